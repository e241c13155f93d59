// VR rules (PS3.5 §6.2) for what pneumo writes: hand-written vectors, DS formatting against an
// independent oracle (strtod round trip and length), and the data set walk.
#include "pneumo/dicom/vr.hpp"

#include <dcmtk/config/osconfig.h>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcitem.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>

#include "pneumo/dicom/vr_dcmtk.hpp"

namespace pneumo {
namespace {

void expect_valid(const char* vr, const std::string& value) {
  auto st = check_vr_value(vr, value);
  EXPECT_TRUE(st.ok()) << vr << " '" << value << "': " << st.error().message;
}

void expect_invalid(const char* vr, const std::string& value, const std::string& why) {
  auto st = check_vr_value(vr, value);
  ASSERT_FALSE(st.ok()) << vr << " '" << value << "' accepted";
  EXPECT_EQ(st.error().code, ErrorCode::kBadInput);
  EXPECT_NE(st.error().message.find(why), std::string::npos) << st.error().message;
}

TEST(VrRules, DecimalString) {
  for (const char* v : {"0.143", "0.143\\0.143", "-1", "+1.5", "1e-05", "1.5E+20", " 0.2 ", "3.", ".5", "0", ""}) {
    expect_valid("DS", v);
  }
  expect_invalid("DS", "0.14300000000000002", "is 19 characters, at most 16");
  expect_invalid("DS", "0.143\\0.14300000000000002", "'0.14300000000000002' is 19 characters");
  expect_invalid("DS", "abc", "not a decimal number");
  expect_invalid("DS", "1,5", "not a decimal number");
  expect_invalid("DS", "nan", "not a decimal number");
  expect_invalid("DS", "1e", "not a decimal number");
  expect_invalid("DS", ".", "not a decimal number");
}

TEST(VrRules, IntegerStringUidDateTime) {
  expect_valid("IS", "1");
  expect_valid("IS", "-2147483648");
  expect_valid("IS", "+2147483647");
  expect_invalid("IS", "2147483648", "32-bit");
  expect_invalid("IS", "1.0", "not an integer");
  expect_invalid("IS", "1234567890123", "13 characters, at most 12");
  expect_valid("UI", "1.2.840.10008.5.1.4.1.1.7");
  expect_invalid("UI", "1.02", "not a UID");
  expect_invalid("UI", "ID_004d6fbb6", "not a UID");
  expect_invalid("UI", std::string(65, '1'), "65 characters, at most 64");
  expect_valid("DA", "20240229");
  expect_invalid("DA", "20230229", "not a date");  // not a leap year
  expect_invalid("DA", "2024-01-02", "10 characters, at most 8");
  expect_invalid("DA", "20241301", "not a date");
  expect_valid("TM", "030405");
  expect_valid("TM", "0304");
  expect_valid("TM", "030405.123456");
  expect_invalid("TM", "240000", "not a time");
  expect_invalid("TM", "03:04:05", "not a time");
  expect_invalid("TM", "030405.1234567", "not a time");  // 7 fraction digits
  expect_invalid("TM", "030405.12345678", "15 characters, at most 14");
}

TEST(VrRules, TextsAndCodes) {
  expect_valid("LO", std::string(64, 'x'));
  expect_invalid("LO", std::string(65, 'x'), "65 characters, at most 64");
  expect_invalid("LO", "line\nbreak", "control character");
  expect_valid("ST", "line\nbreak");
  expect_valid("ST", std::string(1024, 'x'));
  expect_invalid("ST", std::string(1025, 'x'), "at most 1024");
  expect_valid("CS", "DERIVED\\SECONDARY");
  expect_valid("CS", "ISO_10918_1");
  expect_invalid("CS", "chest", "CS allows only");
  expect_invalid("CS", "ABCDEFGHIJKLMNOPQ", "17 characters, at most 16");
  expect_valid("AS", "038Y");
  expect_invalid("AS", "38", "not an age");
  expect_valid("PN", "Doe^John");
  expect_invalid("PN", std::string(65, 'x'), "component group of 65");
  auto unknown = check_vr_value("XX", "1");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ErrorCode::kInvalidArgument);
}

TEST(VrFormat, DecimalStringVectors) {
  EXPECT_EQ(format_decimal_string(0.143), "0.143");
  EXPECT_EQ(format_decimal_string(0.14300000000000002), "0.143");  // SIIM's value, 19 chars as written
  EXPECT_EQ(format_decimal_string(0.19431099999999998), "0.194311");
  EXPECT_EQ(format_decimal_string(0.139), "0.139");
  EXPECT_EQ(format_decimal_string(1.0), "1");
  EXPECT_EQ(format_decimal_string(-2.5), "-2.5");
  EXPECT_EQ(format_decimal_string(1e-300), "1e-300");
  EXPECT_FALSE(format_decimal_string(std::numeric_limits<double>::quiet_NaN()));
  EXPECT_FALSE(format_decimal_string(std::numeric_limits<double>::infinity()));
  EXPECT_EQ(normalise_decimal_string("0.14300000000000002\\0.14300000000000002").value(), "0.143\\0.143");
  EXPECT_EQ(normalise_decimal_string(" 0.168 \\0.168").value(), "0.168\\0.168");
  EXPECT_FALSE(normalise_decimal_string("0.1\\x").ok());
  EXPECT_EQ(normalise_age_string("38"), "038Y");
  EXPECT_EQ(normalise_age_string("6M"), "");
  EXPECT_EQ(normalise_age_string("006M"), "006M");
  EXPECT_EQ(normalise_age_string("413 "), "413Y");
  EXPECT_EQ(truncate_to_vr("LO", std::string(70, 'a')).size(), 64u);
  // UTF-8 "é" (2 bytes) straddling the limit is dropped whole, never split.
  EXPECT_EQ(truncate_to_vr("SH", std::string(15, 'a') + "\xc3\xa9"), std::string(15, 'a'));
  EXPECT_EQ(truncate_to_vr("UI", std::string(70, '1')).size(), 70u);  // not a text VR: unchanged
}

// Oracle: the text is valid DS, at most 16 characters, and parses back (strtod) to the value
// within the precision 16 characters can carry.
TEST(VrFormat, DecimalStringRandomValuesAlwaysFitAndRoundTripClosely) {
  const unsigned seed = 20241130;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> mantissa(-10.0, 10.0);
  std::uniform_int_distribution<int> exponent(-320, 300);
  for (int i = 0; i < 20000; ++i) {
    const double v = mantissa(rng) * std::pow(10.0, exponent(rng));
    if (!std::isfinite(v)) continue;
    const auto text = format_decimal_string(v);
    ASSERT_TRUE(text) << "seed " << seed << " value " << v;
    ASSERT_LE(text->size(), 16u) << "seed " << seed << " value " << v;
    ASSERT_TRUE(check_vr_value("DS", *text).ok()) << *text;
    const double back = std::strtod(text->c_str(), nullptr);
    // 16 characters keep at least 9 significant digits ("-d.dddddddde-305").
    const double tolerance = std::abs(v) * 1e-8 + std::numeric_limits<double>::denorm_min() * 1e6;
    ASSERT_NEAR(back, v, tolerance) << "seed " << seed << " text " << *text;
  }
}

TEST(VrDataset, WalkNamesTheAttributeAndFindsNestedValues) {
  DcmFileFormat file;
  DcmDataset& ds = *file.getDataset();
  ds.putAndInsertString(DCM_PixelSpacing, "0.143\\0.143");
  ds.putAndInsertString(DCM_Modality, "OT");
  ds.putAndInsertUint16(DCM_Rows, 7);
  EXPECT_TRUE(check_dataset_values(ds, "x.dcm").ok());
  ds.putAndInsertString(DCM_PixelSpacing, "0.14300000000000002\\0.14300000000000002");
  auto bad = check_dataset_values(ds, "x.dcm");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("x.dcm: PixelSpacing (0028,0030): DS value '0.14300000000000002' is 19"),
            std::string::npos)
      << bad.error().message;
  ds.putAndInsertString(DCM_PixelSpacing, "0.143\\0.143");
  DcmItem* item = nullptr;
  ASSERT_TRUE(ds.findOrCreateSequenceItem(DCM_SourceImageSequence, item, 0).good());
  item->putAndInsertString(DCM_ReferencedSOPInstanceUID, "ID_0123");
  bad = check_dataset_values(ds, "y.dcm");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("SourceImageSequence (0008,2112) item 1: ReferencedSOPInstanceUID"),
            std::string::npos)
      << bad.error().message;
}

}  // namespace
}  // namespace pneumo
