// DICOM value representation (VR) rules for the text values pneumo writes: one place that knows
// PS3.5 §6.2 (lengths, characters, formats), used by every writer (write_dicom, DICOM SEG, SC).
//
//   pneumo::format_decimal_string(0.14300000000000002)        // "0.143" (DS: at most 16 chars)
//   pneumo::normalise_decimal_string("0.14300000000000002\\0.14300000000000002")  // "0.143\\0.143"
//   if (auto st = pneumo::check_vr_value("CS", "CHEST"); !st) ...  // "CS value 'chest': ..."
//
// In dicom/vr_dcmtk.hpp: check_dataset_values walks a DCMTK data set (sequences included) and
// checks every text value against these rules, so a writer can refuse to write a file that
// would fail dciodvfy.
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "pneumo/core/result.hpp"

namespace pneumo {

// Checks one attribute value (all its components, separated by '\' except for LT, ST, UT, UR)
// against the rules of `vr` ("DS", "IS", "UI", "DA", "TM", "DT", "LO", "SH", "CS", "AS", "AE",
// "PN", "LT", "ST", "UT", "UC", "UR"). An empty value is always valid (type 2 attributes).
// Unknown VR names are kInvalidArgument. Errors are kBadInput and say which component broke which
// rule: "DS value '0.14300000000000002' is 19 characters, at most 16".
Status check_vr_value(std::string_view vr, std::string_view value);

// The shortest decimal text of `value` that fits a DS (16 characters): the exact round-trip
// form when it fits, else the most significant digits that do ("0.14300000000000002" -> "0.143",
// "0.19431099999999998" -> "0.194311"). nullopt for NaN and infinities (DS cannot hold them).
std::optional<std::string> format_decimal_string(double value);

// Re-formats every component of a DS text with format_decimal_string; errors when a component
// is not a number. "0.14300000000000002\0.14300000000000002" -> "0.143\0.143".
Result<std::string> normalise_decimal_string(std::string_view text);

// PatientAge (AS) "nnnD/W/M/Y" from what files carry: "038Y" stays, a bare number of years
// ("38", as SIIM writes it) becomes "038Y"; anything else gives "" (drop the value).
std::string normalise_age_string(std::string_view text);

// `text` cut to the maximum length of `vr` (LO/LT/PN: 64/10240/64, SH/CS/AE: 16, ST: 1024) on a
// UTF-8 character boundary; other VRs are returned unchanged.
std::string truncate_to_vr(std::string_view vr, std::string_view text);

// A DICOM UID: 1..64 characters, digits and dots, no empty component, no leading zero.
bool is_valid_uid(std::string_view uid);

}  // namespace pneumo
