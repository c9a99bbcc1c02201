#include "core/io/safetensors.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>

#include "core/io/safetensors_writer.h"
#include "core/util/error.h"
#include "tests/support/test_support.h"

namespace ditstream {
namespace {

// Writes a safetensors file from a raw header text and data bytes, for malformed-file cases.
std::filesystem::path write_raw(const std::filesystem::path& path, const std::string& header, const std::string& data,
                                std::optional<uint64_t> declared_len = std::nullopt) {
  std::ofstream out(path, std::ios::binary);
  const uint64_t len = declared_len.value_or(header.size());
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((len >> (8 * i)) & 0xff));
  out << header << data;
  return path;
}

// Expects opening `path` to fail with a bad_file error whose message contains every fragment.
void expect_bad_file(const std::filesystem::path& path, std::vector<std::string> fragments) {
  try {
    io::SafetensorsFile::open(path);
    FAIL() << "opening " << path << " should have failed";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::bad_file) << e.what();
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path.string()), std::string::npos) << "error does not name the file: " << msg;
    for (const auto& f : fragments) EXPECT_NE(msg.find(f), std::string::npos) << "'" << f << "' not in: " << msg;
  }
}

TEST(Safetensors, RoundTripsEveryTorchDtypeWithoutCopying) {
  const auto dir = testing::fresh_temp_dir();
  std::map<std::string, at::Tensor> tensors;
  const auto base = at::randn({3, 5}, at::kFloat);
  for (auto type : {at::kFloat, at::kDouble, at::kHalf, at::kBFloat16, at::kFloat8_e4m3fn, at::kFloat8_e5m2}) {
    tensors[std::string("float_") + c10::toString(type)] = base.to(type);
  }
  tensors["i64"] = at::arange(7, at::kLong);
  tensors["i32"] = at::arange(-3, 4, at::kInt);
  tensors["u8"] = at::arange(200, 210, at::kByte);
  tensors["bool"] = at::rand({4}) > 0.5;
  tensors["empty"] = at::zeros({0, 4});
  tensors["scalar"] = at::scalar_tensor(2.5);
  io::write_safetensors(dir / "all.safetensors", tensors, {{"format", "pt"}});

  const auto file = io::SafetensorsFile::open(dir / "all.safetensors");
  EXPECT_EQ(file->header().metadata.at("format"), "pt");
  ASSERT_EQ(file->records().size(), tensors.size());
  for (const auto& [name, expected] : tensors) {
    const auto& rec = *file->find(name);
    const at::Tensor t = file->tensor(rec);
    EXPECT_EQ(t.scalar_type(), expected.scalar_type()) << name;
    EXPECT_EQ(t.sizes(), expected.sizes()) << name;
    if (t.numel() > 0) {
      EXPECT_EQ(t.const_data_ptr(), static_cast<const void*>(file->data(rec))) << name << " was copied";
    }
    EXPECT_TRUE(at::equal(t.reshape({-1}).view(at::kByte), expected.contiguous().reshape({-1}).view(at::kByte))) << name;
  }
}

TEST(Safetensors, TensorsKeepTheMappingAlive) {
  const auto dir = testing::fresh_temp_dir();
  io::write_safetensors(dir / "a.safetensors", {{"x", at::arange(16, at::kFloat)}});
  at::Tensor t = io::SafetensorsFile::open(dir / "a.safetensors")->tensor("x");
  EXPECT_FLOAT_EQ(t[15].item<float>(), 15.0f);  // the file object is gone; the view still reads
}

TEST(Safetensors, SubByteDtypesParseButHaveNoTensorType) {
  const auto dir = testing::fresh_temp_dir();
  const auto path = write_raw(dir / "f4.safetensors", R"({"w":{"dtype":"F4","shape":[2,4],"data_offsets":[0,4]}})",
                              std::string(4, '\x11'));
  const auto file = io::SafetensorsFile::open(path);
  EXPECT_EQ(file->find("w")->nbytes(), 4u);
  EXPECT_THROW(file->tensor("w"), Error);
}

TEST(SafetensorsBadFiles, TooShortForTheLength) {
  const auto dir = testing::fresh_temp_dir();
  std::ofstream(dir / "short.safetensors") << "abc";
  expect_bad_file(dir / "short.safetensors", {"at least 8"});
}

TEST(SafetensorsBadFiles, TruncatedData) {
  const auto dir = testing::fresh_temp_dir();
  const auto path = write_raw(dir / "trunc.safetensors",
                              R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", std::string(10, '\0'));
  expect_bad_file(path, {"truncated", "16", "10"});
}

TEST(SafetensorsBadFiles, HeaderRunsPastTheEnd) {
  const auto dir = testing::fresh_temp_dir();
  const auto path = write_raw(dir / "past.safetensors", R"({})", "", 5000);
  expect_bad_file(path, {"header", "5000", "past the end"});
}

TEST(SafetensorsBadFiles, OversizedHeader) {
  const auto dir = testing::fresh_temp_dir();
  const auto path = write_raw(dir / "huge.safetensors", R"({})", "", uint64_t{1} << 40);
  expect_bad_file(path, {"header", "exceeds the limit"});
}

TEST(SafetensorsBadFiles, NotJson) {
  const auto dir = testing::fresh_temp_dir();
  expect_bad_file(write_raw(dir / "a.safetensors", "{not json", ""), {"not valid JSON"});
  expect_bad_file(write_raw(dir / "b.safetensors", "[1,2]", ""), {"JSON object"});
}

TEST(SafetensorsBadFiles, OverlappingOffsets) {
  const auto dir = testing::fresh_temp_dir();
  const auto path = write_raw(dir / "overlap.safetensors",
                              R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                              R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                              std::string(12, '\0'));
  expect_bad_file(path, {"b.data_offsets", "overlaps"});
}

TEST(SafetensorsBadFiles, HoleBetweenTensors) {
  const auto dir = testing::fresh_temp_dir();
  const auto path = write_raw(dir / "hole.safetensors",
                              R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                              R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                              std::string(12, '\0'));
  expect_bad_file(path, {"b.data_offsets", "hole"});
}

TEST(SafetensorsBadFiles, UnknownDtype) {
  const auto dir = testing::fresh_temp_dir();
  const auto path = write_raw(dir / "dtype.safetensors", R"({"w":{"dtype":"F7","shape":[1],"data_offsets":[0,1]}})",
                              std::string(1, '\0'));
  expect_bad_file(path, {"w.dtype", "'F7'", "BF16", "F8_E4M3"});
}

TEST(SafetensorsBadFiles, DtypeDoesNotMatchTheByteCount) {
  const auto dir = testing::fresh_temp_dir();
  // 3 BF16 values take 6 bytes, not 12: a file written as F32 but labelled BF16.
  const auto path = write_raw(dir / "wrong.safetensors", R"({"w":{"dtype":"BF16","shape":[3],"data_offsets":[0,12]}})",
                              std::string(12, '\0'));
  expect_bad_file(path, {"w.data_offsets", "12 bytes", "needs 6"});
}

TEST(SafetensorsBadFiles, NegativeOrNonIntegerDimension) {
  const auto dir = testing::fresh_temp_dir();
  expect_bad_file(write_raw(dir / "neg.safetensors", R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", ""),
                  {"w.shape", "non-negative"});
  expect_bad_file(write_raw(dir / "str.safetensors", R"({"w":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}})",
                            std::string(8, '\0')),
                  {"w.shape"});
}

TEST(SafetensorsBadFiles, ShapeOverflow) {
  const auto dir = testing::fresh_temp_dir();
  const auto path = write_raw(
      dir / "overflow.safetensors",
      R"({"w":{"dtype":"F64","shape":[4294967296,4294967296,16],"data_offsets":[0,0]}})", "");
  expect_bad_file(path, {"w.shape", "overflows"});
}

TEST(SafetensorsBadFiles, MetadataMustBeStrings) {
  const auto dir = testing::fresh_temp_dir();
  expect_bad_file(write_raw(dir / "meta.safetensors", R"({"__metadata__":{"format":3}})", ""),
                  {"__metadata__.format", "string"});
}

TEST(SafetensorsBadFiles, MissingFileIsNotFound) {
  try {
    io::SafetensorsFile::open("/nonexistent/weights.safetensors");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_found);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/weights.safetensors"), std::string::npos);
  }
}

}  // namespace
}  // namespace ditstream
