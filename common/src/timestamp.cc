#include "vigil/common/timestamp.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>

namespace vigil {
namespace {

// Days from 1970-01-01 to the civil date (proleptic Gregorian), H. Hinnant's algorithm.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool Digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

bool ParseRfc3339(std::string_view s, int64_t& secs_out, int64_t& nanos_out) {
  int year, month, day, hour, minute, second;
  if (!Digits(s, 0, 4, year) || s.size() < 20 || s[4] != '-' || !Digits(s, 5, 2, month) ||
      s[7] != '-' || !Digits(s, 8, 2, day) || s[10] != 'T' || !Digits(s, 11, 2, hour) ||
      s[13] != ':' || !Digits(s, 14, 2, minute) || s[16] != ':' || !Digits(s, 17, 2, second)) {
    return false;
  }
  static constexpr int kDaysIn[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (month < 1 || month > 12 || day < 1 || day > kDaysIn[month - 1] ||
      (month == 2 && day == 29 && !leap) || hour > 23 || minute > 59 || second > 59) {
    return false;
  }
  size_t pos = 19;
  int64_t nanos = 0;
  if (pos < s.size() && s[pos] == '.') {
    size_t end = pos + 1;
    int64_t scale = 100'000'000;
    while (end < s.size() && s[end] >= '0' && s[end] <= '9') {
      nanos += (s[end] - '0') * scale;
      scale /= 10;
      ++end;
    }
    if (end == pos + 1 || end - pos - 1 > 9) return false;
    pos = end;
  }
  int64_t offset_s = 0;
  if (pos < s.size() && s[pos] == 'Z') {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!Digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !Digits(s, pos + 4, 2, om) || oh > 23 || om > 59) {
      return false;
    }
    offset_s = (s[pos] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    pos += 6;
  } else {
    return false;
  }
  if (pos != s.size()) return false;
  secs_out = DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 +
             hour * 3600 + minute * 60 + second - offset_s;
  nanos_out = nanos;
  return true;
}

bool ParseRfc3339(std::string_view s, int64_t& ms) {
  int64_t secs = 0, nanos = 0;
  if (!ParseRfc3339(s, secs, nanos)) return false;
  ms = secs * 1000 + nanos / 1'000'000;  // truncated, as Prometheus' timestamp.FromTime
  return true;
}

}  // namespace

Result<int64_t> ParseRfc3339Nanos(std::string_view s) {
  int64_t secs = 0, nanos = 0;
  if (!ParseRfc3339(s, secs, nanos)) {
    return InvalidArgument("cannot parse \"" + std::string(s.substr(0, 64)) +
                           "\" as an RFC 3339 time");
  }
  return secs * 1'000'000'000 + nanos;
}

std::string FormatApiTime(int64_t ms) {
  std::string out;
  uint64_t t;
  if (ms < 0) {
    out += '-';
    t = static_cast<uint64_t>(-(ms + 1)) + 1;
  } else {
    t = static_cast<uint64_t>(ms);
  }
  out += std::to_string(t / 1000);
  const uint64_t frac = t % 1000;
  if (frac != 0) {
    out += '.';
    if (frac < 100) out += '0';
    if (frac < 10) out += '0';
    out += std::to_string(frac);
  }
  return out;
}

Result<int64_t> ParseTimestamp(std::string_view s) {
  double f = 0;
  // Go's ParseFloat allows a leading '+'; from_chars does not.
  const std::string_view num = s.starts_with('+') ? s.substr(1) : s;
  auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), f);
  if (!num.empty() && ec == std::errc() && end == num.data() + num.size() && std::isfinite(f)) {
    // Whole seconds and a fraction rounded to the millisecond, as Prometheus' parseTime.
    double whole;
    const double fraction = std::modf(f, &whole);
    if (whole >= static_cast<double>(kApiMinTimeMs / 1000) &&
        whole <= static_cast<double>(kApiMaxTimeMs / 1000)) {
      return static_cast<int64_t>(whole) * 1000 + static_cast<int64_t>(std::round(fraction * 1000));
    }
  }
  int64_t ms = 0;
  if (ParseRfc3339(s, ms)) return ms;
  return InvalidArgument("cannot parse \"" + std::string(s) + "\" to a valid timestamp");
}

Result<int64_t> ParseTimeParam(const std::optional<std::string>& value, std::string_view name,
                               int64_t default_ms) {
  if (!value || value->empty()) return default_ms;
  auto t = ParseTimestamp(*value);
  if (t.ok()) return t;
  return InvalidArgument("invalid parameter \"" + std::string(name) +
                         "\": Invalid time value for '" + std::string(name) +
                         "': " + t.status().message());
}

void AppendRfc3339Nanos(std::string& out, int64_t ns) {
  int64_t secs = ns / 1'000'000'000;
  int64_t nanos = ns % 1'000'000'000;
  if (nanos < 0) {
    nanos += 1'000'000'000;
    --secs;
  }
  // The seconds are formatted once per second seen (log lines come in time order).
  thread_local int64_t cached_secs = INT64_MIN;
  thread_local char cached[32];
  thread_local size_t cached_len = 0;
  if (secs != cached_secs) {
    const time_t t = static_cast<time_t>(secs);
    struct tm tm {};
    gmtime_r(&t, &tm);
    cached_len = std::strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm);
    cached_secs = secs;
  }
  out.append(cached, cached_len);
  if (nanos != 0) {
    // The fraction without its trailing zeros, as Go's RFC3339Nano.
    char frac[10];
    int digits = 9;
    auto n = static_cast<uint64_t>(nanos);
    while (n % 10 == 0) {
      n /= 10;
      --digits;
    }
    frac[0] = '.';
    for (int i = digits; i >= 1; --i) {
      frac[i] = static_cast<char>('0' + n % 10);
      n /= 10;
    }
    out.append(frac, static_cast<size_t>(digits) + 1);
  }
  out += 'Z';
}

std::string FormatRfc3339Nanos(int64_t ns) {
  std::string out;
  AppendRfc3339Nanos(out, ns);
  return out;
}

}  // namespace vigil
