#include "vigil/common/loki_push.h"

#include <gtest/gtest.h>
#include <snappy.h>

#include "push.pb.h"

namespace vigil::loki {
namespace {

std::vector<Stream> Sample() {
  Stream a;
  a.labels = Labels{{"namespace", "default"}, {"pod", "web-1"}, {"stream", "stdout"}};
  a.entries.push_back({1700000000123456789, "GET / 200", {}});
  a.entries.push_back({1700000000123456790, "line with \"quotes\"\tand\\ escapes", {}});
  Stream b;
  b.labels = Labels{{"app", "odd \"value\"\nhere"}};
  b.entries.push_back({-1500000000, "before the epoch", Labels{{"trace_id", "abc"}}});
  return {a, b};
}

void ExpectSame(const std::vector<Stream>& got, const std::vector<Stream>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].labels, want[i].labels) << got[i].labels.ToString();
    ASSERT_EQ(got[i].entries.size(), want[i].entries.size());
    for (size_t j = 0; j < want[i].entries.size(); ++j) {
      EXPECT_EQ(got[i].entries[j].ts_ns, want[i].entries[j].ts_ns);
      EXPECT_EQ(got[i].entries[j].line, want[i].entries[j].line);
      EXPECT_EQ(got[i].entries[j].metadata, want[i].entries[j].metadata);
    }
  }
}

TEST(LokiPushTest, ProtobufAndJsonRoundTrip) {
  auto proto = DecodePush(EncodePush(Sample()), "application/x-protobuf");
  ASSERT_TRUE(proto.ok()) << proto.status().ToString();
  ExpectSame(*proto, Sample());
  auto json = DecodePush(EncodePushJson(Sample()), "application/json");
  ASSERT_TRUE(json.ok()) << json.status().ToString();
  ExpectSame(*json, Sample());
}

TEST(LokiPushTest, JsonAsPromtailAndCurlSendIt) {
  auto r = DecodePush(
      R"({"streams":[{"stream":{"job":"varlogs","host":"a"},"values":[["1700000000000000000","one"],)"
      R"(["1700000000000000001","two",{"traceID":"x1"}]]}]})",
      "application/json; charset=utf-8");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].labels, (Labels{{"host", "a"}, {"job", "varlogs"}}));
  ASSERT_EQ((*r)[0].entries.size(), 2u);
  EXPECT_EQ((*r)[0].entries[1].ts_ns, 1700000000000000001);
  EXPECT_EQ((*r)[0].entries[1].metadata.Get("traceID"), "x1");
}

TEST(LokiPushTest, StreamLabelsParseAsLogQLWritesThem) {
  auto l = ParseStreamLabels(R"( { a = "x\"y\n" , b='single', c=`raw\n` } )");
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_EQ(l->Get("a"), "x\"y\n");
  EXPECT_EQ(l->Get("b"), "single");
  EXPECT_EQ(l->Get("c"), "raw\\n");
  EXPECT_EQ(FormatStreamLabels(*l), R"({a="x\"y\n", b="single", c="raw\\n"})");
  auto again = ParseStreamLabels(FormatStreamLabels(*l));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *l);

  auto err = [](std::string_view text) { return ParseStreamLabels(text).status().message(); };
  EXPECT_NE(err("{a=b}").find("at column 4: expected a quoted value for label \"a\""),
            std::string::npos)
      << err("{a=b}");
  EXPECT_NE(err("{}").find("at least one label pair"), std::string::npos);
  EXPECT_NE(err("{a=\"x\", a=\"y\"}").find("duplicate label name"), std::string::npos)
      << err("{a=\"x\", a=\"y\"}");
  EXPECT_NE(err("{a=\"x\"").find("expected ',' or '}'"), std::string::npos);
  EXPECT_NE(err("{a=\"x}").find("unterminated"), std::string::npos);
  EXPECT_NE(err("a=\"x\"}").find("expected '{'"), std::string::npos);
  EXPECT_NE(err("{a=\"x\"} junk").find("unexpected text"), std::string::npos);
  EXPECT_NE(err("{9a=\"x\"}").find("invalid label name"), std::string::npos) << err("{9a=\"x\"}");
}

TEST(LokiPushTest, BadBodiesGetPreciseErrors) {
  auto err = [](std::string_view body, std::string_view type = "application/json",
                PushLimits limits = {}) { return DecodePush(body, type, limits).status(); };
  Status s = err(R"({"streams":[{"stream":{"a":"b"},"values":[["1","x"]]})");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("malformed JSON push"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("line 1, column 54"), std::string::npos) << s.message();
  s = err(R"({"streams":[{"stream":{"a":"b"},"values":[[1700000000,"x"]]}]})");
  EXPECT_NE(s.message().find("streams[0].values[0]: must be"), std::string::npos) << s.message();
  s = err(R"({"streams":[{"stream":{"a":"b"},"values":[["17e9","x"]]}]})");
  EXPECT_NE(s.message().find("streams[0].values[0]: timestamp \"17e9\" is not a decimal"),
            std::string::npos)
      << s.message();
  s = err(R"({"streams":[{"values":[["1","x"]]}]})");
  EXPECT_EQ(s.message(), "error at least one label pair is required per stream");
  s = err(R"({"streams":[{"stream":{"a":1},"values":[]}]})");
  EXPECT_NE(s.message().find("streams[0].stream: the value of label \"a\" must be a string"),
            std::string::npos)
      << s.message();
  s = err(R"({"streams":[{"stream":{"a-b":"1"},"values":[]}]})");
  EXPECT_NE(s.message().find("a-b"), std::string::npos) << s.message();
  // A number too large for a double: an error, not an exception (found by the fuzzer).
  s = err(R"({"streams":[], "x": 88846.084448e8846})");
  EXPECT_NE(s.message().find("malformed JSON push"), std::string::npos) << s.message();
  s = err(R"({"nope":[]})");
  EXPECT_NE(s.message().find("\"streams\" array"), std::string::npos);

  PushLimits small;
  small.max_line_bytes = 4;
  small.max_labels_per_stream = 2;
  s = err(R"({"streams":[{"stream":{"a":"b"},"values":[["1","12345"]]}]})", "application/json",
          small);
  EXPECT_EQ(s.message(),
            "Max entry size '4' bytes exceeded for stream '{a=\"b\"}' while adding an entry with "
            "length '5' bytes (entry 0)");
  s = err(R"({"streams":[{"stream":{"a":"1","b":"2","c":"3"},"values":[]}]})", "application/json",
          small);
  EXPECT_EQ(s.message(), "stream '{a=\"1\", b=\"2\", c=\"3\"}' has 3 label names; limit 2");
  small.max_body_bytes = 10;
  s = err(R"({"streams":[]}   )", "application/json", small);
  EXPECT_EQ(s.code(), StatusCode::kOutOfRange) << s.message();
  small.max_body_bytes = 64 << 20;
  small.max_streams = 1;
  s = err(EncodePush(Sample()), kProtobufContentType, small);
  EXPECT_EQ(s.code(), StatusCode::kOutOfRange) << s.message();

  // Protobuf: corrupt snappy, a body declaring more than the limit, not a PushRequest, bad labels.
  s = err("\xff\xff\xff\xff\xff", kProtobufContentType);
  EXPECT_NE(s.message().find("snappy"), std::string::npos) << s.message();
  std::string huge;
  std::string zeros(1 << 20, '\0');
  snappy::Compress(zeros.data(), zeros.size(), &huge);
  PushLimits tiny;
  tiny.max_body_bytes = 1000;
  s = err(huge, kProtobufContentType, tiny);
  EXPECT_EQ(s.code(), StatusCode::kOutOfRange);
  EXPECT_NE(s.message().find("decompressed size 1048576"), std::string::npos) << s.message();
  std::string junk, raw = "\x0a\x05\x0a\x03{a}";  // streams[0].labels = "{a}"
  snappy::Compress(raw.data(), raw.size(), &junk);
  s = err(junk, kProtobufContentType);
  EXPECT_NE(s.message().find("streams[0].labels: parse error in labels {a} at column 3"),
            std::string::npos)
      << s.message();
  raw = "\x0a\x05\x0a\x03";  // truncated
  snappy::Compress(raw.data(), raw.size(), &junk);
  s = err(junk, kProtobufContentType);
  EXPECT_NE(s.message().find("malformed protobuf push"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace vigil::loki
