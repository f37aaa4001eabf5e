#include "vigil/common/remote_write.h"

#include <gtest/gtest.h>
#include <snappy.h>

#include <cmath>

namespace vigil::remote {
namespace {

prometheus::WriteRequest Sample(int series) {
  prometheus::WriteRequest req;
  for (int i = 0; i < series; ++i) {
    auto* ts = req.add_timeseries();
    auto* name = ts->add_labels();
    name->set_name("__name__");
    name->set_value("vigil_test_metric");
    auto* idx = ts->add_labels();
    idx->set_name("idx");
    idx->set_value(std::to_string(i));
    auto* s = ts->add_samples();
    s->set_value(i * 1.5);
    s->set_timestamp(1'700'000'000'000 + i);
  }
  return req;
}

std::string Snappy(const std::string& raw) {
  std::string out;
  snappy::Compress(raw.data(), raw.size(), &out);
  return out;
}

TEST(RemoteWriteTest, RoundTrips) {
  auto req = Sample(3);
  auto decoded = Decode(Encode(req));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ASSERT_EQ(decoded->timeseries_size(), 3);
  EXPECT_EQ(decoded->timeseries(2).samples(0).value(), 3.0);
  EXPECT_EQ(decoded->timeseries(2).samples(0).timestamp(), 1'700'000'000'002);
  auto labels = ToLabels(decoded->timeseries(1));
  ASSERT_TRUE(labels.ok());
  EXPECT_EQ(labels->ToString(), R"({__name__="vigil_test_metric", idx="1"})");
}

TEST(RemoteWriteTest, TruncatedSnappy) {
  std::string body = Encode(Sample(50));
  auto r = Decode(body.substr(0, body.size() / 2));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("snappy: corrupt or truncated input"), std::string::npos);
  EXPECT_NE(Decode("").status().message().find("snappy: corrupt input"), std::string::npos);
  EXPECT_FALSE(Decode("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff").ok());
}

TEST(RemoteWriteTest, DeclaredSizeIsCheckedBeforeAllocating) {
  // A 6-byte body that declares a 2 GiB output.
  std::string bomb = "\x80\x80\x80\x80\x08";
  bomb += '\0';
  auto r = Decode(bomb);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kOutOfRange);
  EXPECT_NE(r.status().message().find("exceeds the limit"), std::string::npos)
      << r.status().message();
}

TEST(RemoteWriteTest, InvalidProtobufSaysWhere) {
  std::string raw;
  Sample(2).SerializeToString(&raw);
  // Cut the second series short: its length prefix claims more bytes than remain.
  auto r = Decode(Snappy(raw.substr(0, raw.size() - 3)));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("invalid protobuf in WriteRequest at byte"),
            std::string::npos)
      << r.status().message();
  auto junk = Decode(Snappy("\x0a\x05\x0a\x03\x0a\x09zz"));
  ASSERT_FALSE(junk.ok());
  EXPECT_NE(junk.status().message().find("invalid protobuf in"), std::string::npos)
      << junk.status().message();
  auto wire = Decode(Snappy("\x0f"));  // wire type 7 does not exist
  EXPECT_NE(wire.status().message().find("unsupported wire type 7"), std::string::npos)
      << wire.status().message();
}

TEST(RemoteWriteTest, InvalidSeriesAreRejected) {
  auto req = Sample(1);
  req.mutable_timeseries(0)->mutable_labels(1)->set_name("bad-name");
  auto r = Decode(Encode(req));
  EXPECT_NE(r.status().message().find("series 0: "), std::string::npos);
  EXPECT_NE(r.status().message().find("invalid label name \"bad-name\""), std::string::npos)
      << r.status().message();

  req = Sample(1);
  req.mutable_timeseries(0)->mutable_labels(0)->set_name("job");
  EXPECT_NE(Decode(Encode(req)).status().message().find("has no metric name"), std::string::npos);

  req = Sample(1);
  auto* dup = req.mutable_timeseries(0)->add_labels();
  dup->set_name("idx");
  dup->set_value("again");
  EXPECT_NE(Decode(Encode(req)).status().message().find("duplicate label name \"idx\""),
            std::string::npos);
}

TEST(RemoteWriteTest, Limits) {
  WriteLimits limits;
  limits.max_series = 2;
  auto r = Decode(Encode(Sample(3)), limits);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("3 series, over the limit of 2"), std::string::npos);
  limits = {};
  limits.max_decompressed_bytes = 10;
  EXPECT_EQ(Decode(Encode(Sample(3)), limits).status().code(), StatusCode::kOutOfRange);
  limits = {};
  limits.max_label_value_bytes = 3;
  auto req = Sample(1);
  req.mutable_timeseries(0)->mutable_labels(1)->set_value("long value");
  EXPECT_NE(Decode(Encode(req), limits).status().message().find("longer than 3 bytes"),
            std::string::npos);
}

TEST(RemoteWriteTest, ViewMatchesProtobuf) {
  auto req = Sample(3);
  // Unsorted labels are sorted; an exemplar and metadata are skipped.
  auto* zone = req.mutable_timeseries(1)->add_labels();
  zone->set_name("a_first");
  zone->set_value("x");
  req.mutable_timeseries(1)->add_exemplars()->set_value(1);
  req.add_metadata()->set_help("help");
  auto* extra = req.mutable_timeseries(2)->add_samples();
  extra->set_timestamp(-5);
  extra->set_value(-0.0);
  WriteRequestView view;
  ASSERT_TRUE(DecodeView(Encode(req), {}, view).ok());
  ASSERT_EQ(view.size(), 3u);
  EXPECT_EQ(LabelsToString(view.labels(1)),
            R"({__name__="vigil_test_metric", a_first="x", idx="1"})");
  EXPECT_EQ(HashLabels(view.labels(1)), ToLabels(view.labels(1)).Hash());
  ASSERT_EQ(view.samples(2).size(), 2u);
  EXPECT_EQ(view.samples(2)[0].v, 3.0);
  EXPECT_EQ(view.samples(2)[0].t, 1'700'000'000'002);
  EXPECT_EQ(view.samples(2)[1].t, -5);
  EXPECT_TRUE(std::signbit(view.samples(2)[1].v));
  // Reused: nothing of the previous request is left.
  ASSERT_TRUE(DecodeView(Encode(Sample(1)), {}, view).ok());
  ASSERT_EQ(view.size(), 1u);
  EXPECT_EQ(view.samples(0).size(), 1u);
  // Errors leave it empty.
  EXPECT_FALSE(DecodeView("junk", {}, view).ok());
  EXPECT_EQ(view.size(), 0u);
}

}  // namespace
}  // namespace vigil::remote

namespace vigil::remote {
namespace {

// The encoder's bytes parse as the WriteRequest of the same series, equal to what protobuf's own
// serializer writes, and concatenate with serialized requests.
TEST(WriteRequestEncoderTest, BytesAreTheProtobufOfTheSameSeries) {
  WriteRequestEncoder enc;
  const std::string long_value(300, 'x');  // a length that needs a two-byte varint
  std::vector<LabelView> a = {{"__name__", "up"}, {"job", "node"}};
  std::vector<LabelView> b = {{"__name__", "m"}, {"id", long_value}};
  enc.Add(a, 1'700'000'000'123, 1.5);
  enc.Add(b, -5, -0.0);
  prometheus::WriteRequest want;
  for (auto [labels, t, v] :
       {std::tuple{a, int64_t{1'700'000'000'123}, 1.5}, std::tuple{b, int64_t{-5}, -0.0}}) {
    auto* ts = want.add_timeseries();
    for (const auto& l : labels) {
      auto* pl = ts->add_labels();
      pl->set_name(std::string(l.name));
      pl->set_value(std::string(l.value));
    }
    auto* s = ts->add_samples();
    s->set_value(v);
    s->set_timestamp(t);
  }
  EXPECT_EQ(enc.bytes(), want.SerializeAsString());
  EXPECT_EQ(enc.samples(), 2u);
  // Appending a serialized request adds its series after these.
  prometheus::WriteRequest more;
  auto* ts = more.add_timeseries();
  auto* l = ts->add_labels();
  l->set_name("__name__");
  l->set_value("extra");
  ts->add_samples()->set_value(7);
  enc.Append(more.SerializeAsString(), 1);
  prometheus::WriteRequest got;
  ASSERT_TRUE(got.ParseFromString(enc.bytes()));
  ASSERT_EQ(got.timeseries_size(), 3);
  EXPECT_EQ(got.timeseries(1).labels(1).value(), long_value);
  EXPECT_EQ(got.timeseries(2).labels(0).value(), "extra");
  EXPECT_EQ(got.timeseries(0).samples(0).timestamp(), 1'700'000'000'123);
  EXPECT_EQ(enc.samples(), 3u);
  // And the whole thing passes the ingest path's own validation.
  std::string body;
  snappy::Compress(enc.bytes().data(), enc.bytes().size(), &body);
  WriteRequestView view;
  ASSERT_TRUE(DecodeView(body, {}, view).ok());
  EXPECT_EQ(view.size(), 3u);
}

}  // namespace
}  // namespace vigil::remote
