// VR rules of PS3.5 §6.2 for the text values pneumo writes (see vr.hpp), and the DCMTK data set
// walk of vr_dcmtk.hpp.
#include "pneumo/dicom/vr.hpp"

#include <dcmtk/config/osconfig.h>  // must come first among DCMTK headers

#include <dcmtk/dcmdata/dcitem.h>
#include <dcmtk/dcmdata/dcsequen.h>
#include <dcmtk/dcmdata/dcvr.h>

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <vector>

#include "pneumo/dicom/vr_dcmtk.hpp"

namespace pneumo {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool all_digits(std::string_view s) {
  for (char c : s) {
    if (!is_digit(c)) return false;
  }
  return !s.empty();
}

std::string_view trim_spaces(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.remove_suffix(1);
  return s;
}

// The value as it may appear in a one-line message: control bytes escaped, long values cut.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 80)) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  if (s.size() > 80) out += "...";
  return out;
}

struct VrRule {
  const char* name;
  std::size_t max_length;  // per component; 0 = no limit
  bool multi;              // components separated by '\'
};

constexpr std::array<VrRule, 17> kRules{{{"AE", 16, true},
                                         {"AS", 4, true},
                                         {"CS", 16, true},
                                         {"DA", 8, true},
                                         {"DS", 16, true},
                                         {"DT", 26, true},
                                         {"IS", 12, true},
                                         {"LO", 64, true},
                                         {"LT", 10240, false},
                                         {"PN", 0, true},  // 64 per component group, checked below
                                         {"SH", 16, true},
                                         {"ST", 1024, false},
                                         {"TM", 14, true},
                                         {"UI", 64, true},
                                         {"UC", 0, true},
                                         {"UR", 0, false},
                                         {"UT", 0, false}}};

const VrRule* find_rule(std::string_view vr) {
  for (const auto& r : kRules) {
    if (vr == r.name) return &r;
  }
  return nullptr;
}

// Control characters: only ESC (character set switching) in short texts; LT/ST/UT also allow
// TAB, LF, FF and CR.
bool bad_control(std::string_view vr, unsigned char c) {
  if (c >= 0x20 && c != 0x7f) return false;
  if (c == 0x1b) return false;
  const bool text = vr == "LT" || vr == "ST" || vr == "UT";
  return !(text && (c == '\t' || c == '\n' || c == '\f' || c == '\r'));
}

bool valid_date(std::string_view s) {
  if (s.size() != 8 || !all_digits(s)) return false;
  const int year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
  const int month = (s[4] - '0') * 10 + (s[5] - '0');
  const int day = (s[6] - '0') * 10 + (s[7] - '0');
  if (month < 1 || month > 12 || day < 1) return false;
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (day > kDays[month - 1]) return false;
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return !(month == 2 && day == 29 && !leap);
}

bool valid_time(std::string_view s) {
  const std::size_t dot = s.find('.');
  const std::string_view hms = s.substr(0, dot);
  if (!(hms.size() == 2 || hms.size() == 4 || hms.size() == 6) || !all_digits(hms)) return false;
  if ((hms[0] - '0') * 10 + (hms[1] - '0') > 23) return false;
  if (hms.size() >= 4 && (hms[2] - '0') * 10 + (hms[3] - '0') > 59) return false;
  if (hms.size() == 6 && (hms[4] - '0') * 10 + (hms[5] - '0') > 60) return false;
  if (dot == std::string_view::npos) return true;
  const std::string_view fraction = s.substr(dot + 1);
  return hms.size() == 6 && fraction.size() >= 1 && fraction.size() <= 6 && all_digits(fraction);
}

// [+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?
bool decimal_syntax(std::string_view s) {
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  std::size_t mantissa_digits = 0;
  while (i < s.size() && is_digit(s[i])) ++i, ++mantissa_digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && is_digit(s[i])) ++i, ++mantissa_digits;
  }
  if (mantissa_digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    std::size_t exponent_digits = 0;
    while (i < s.size() && is_digit(s[i])) ++i, ++exponent_digits;
    if (exponent_digits == 0) return false;
  }
  return i == s.size();
}

std::optional<double> parse_decimal(std::string_view s) {
  s = trim_spaces(s);
  if (!decimal_syntax(s)) return std::nullopt;
  if (s.front() == '+') s.remove_prefix(1);
  double v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// Checks one component (no '\' inside for multi-valued VRs). Returns "" when valid, else why.
std::string component_problem(std::string_view vr, const VrRule& rule, std::string_view c) {
  if (rule.max_length > 0 && c.size() > rule.max_length) {
    return "is " + std::to_string(c.size()) + " characters, at most " + std::to_string(rule.max_length);
  }
  for (char ch : c) {
    if (bad_control(vr, static_cast<unsigned char>(ch))) return "holds a control character";
  }
  const std::string_view t = trim_spaces(c);
  if (vr == "CS") {
    for (char ch : c) {
      if (!((ch >= 'A' && ch <= 'Z') || is_digit(ch) || ch == ' ' || ch == '_')) {
        return "holds '" + printable(std::string_view(&ch, 1)) + "'; CS allows only A-Z, 0-9, space and _";
      }
    }
  } else if (vr == "DS") {
    if (!parse_decimal(c)) return "is not a decimal number";
  } else if (vr == "IS") {
    std::string_view d = t;
    if (!d.empty() && (d.front() == '+' || d.front() == '-')) d.remove_prefix(1);
    if (!all_digits(d)) return "is not an integer";
    std::int64_t v = 0;
    std::string_view n = t.front() == '+' ? t.substr(1) : t;
    const auto [ptr, ec] = std::from_chars(n.data(), n.data() + n.size(), v);
    if (ec != std::errc() || v < std::numeric_limits<std::int32_t>::min() ||
        v > std::numeric_limits<std::int32_t>::max()) {
      return "is outside the 32-bit signed range";
    }
  } else if (vr == "UI") {
    if (!is_valid_uid(t)) return "is not a UID (digits and dots, no empty component, no leading zero)";
  } else if (vr == "DA") {
    if (!valid_date(t)) return "is not a date YYYYMMDD";
  } else if (vr == "TM") {
    if (!valid_time(t)) return "is not a time HH[MM[SS[.FFFFFF]]]";
  } else if (vr == "DT") {
    for (char ch : t) {
      if (!(is_digit(ch) || ch == '.' || ch == '+' || ch == '-')) return "is not a date-time";
    }
    if (t.size() < 4 || !all_digits(t.substr(0, 4))) return "is not a date-time (no year)";
  } else if (vr == "AS") {
    if (!(c.size() == 4 && all_digits(c.substr(0, 3)) &&
          (c[3] == 'D' || c[3] == 'W' || c[3] == 'M' || c[3] == 'Y'))) {
      return "is not an age nnnD/W/M/Y";
    }
  } else if (vr == "PN") {
    std::size_t start = 0;
    for (int group = 0; group < 3; ++group) {
      const std::size_t eq = c.find('=', start);
      const std::size_t end = eq == std::string_view::npos ? c.size() : eq;
      if (end - start > 64) return "has a component group of " + std::to_string(end - start) + " characters, at most 64";
      if (eq == std::string_view::npos) return "";
      start = eq + 1;
    }
    return "has more than 3 component groups";
  }
  return "";
}

}  // namespace

bool is_valid_uid(std::string_view uid) {
  if (uid.empty() || uid.size() > 64) return false;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = uid.find('.', start);
    const std::size_t end = dot == std::string_view::npos ? uid.size() : dot;
    if (end == start) return false;
    for (std::size_t i = start; i < end; ++i) {
      if (!is_digit(uid[i])) return false;
    }
    if (end - start > 1 && uid[start] == '0') return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

Status check_vr_value(std::string_view vr, std::string_view value) {
  const VrRule* rule = find_rule(vr);
  if (rule == nullptr) return fail(ErrorCode::kInvalidArgument, "unknown VR '" + printable(vr) + "'");
  if (value.empty()) return ok_status();
  std::size_t start = 0;
  while (true) {
    const std::size_t sep = rule->multi ? value.find('\\', start) : std::string_view::npos;
    const std::string_view component = value.substr(start, sep == std::string_view::npos ? value.npos : sep - start);
    // An empty component of a multi-valued attribute is allowed ("\1" is two values, one empty).
    if (!component.empty()) {
      const std::string why = component_problem(vr, *rule, component);
      if (!why.empty()) {
        return fail(ErrorCode::kBadInput, std::string(vr) + " value '" + printable(component) + "' " + why);
      }
    }
    if (sep == std::string_view::npos) return ok_status();
    start = sep + 1;
  }
}

std::optional<std::string> format_decimal_string(double value) {
  if (!std::isfinite(value)) return std::nullopt;
  char buf[64];
  const auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, value);  // shortest round trip
  if (ec == std::errc() && ptr - buf <= 16) return std::string(buf, ptr);
  for (int precision = 16; precision >= 1; --precision) {
    const int n = std::snprintf(buf, sizeof buf, "%.*g", precision, value);
    if (n > 0 && n <= 16) return std::string(buf, static_cast<std::size_t>(n));
  }
  return std::nullopt;  // unreachable: "%.1g" is at most 7 characters ("-1e-308")
}

Result<std::string> normalise_decimal_string(std::string_view text) {
  std::string out;
  std::size_t start = 0;
  while (true) {
    const std::size_t sep = text.find('\\', start);
    const std::string_view component = text.substr(start, sep == std::string_view::npos ? text.npos : sep - start);
    const auto v = parse_decimal(component);
    if (!v) return fail(ErrorCode::kBadInput, "DS value '" + printable(component) + "' is not a decimal number");
    if (!out.empty() || start > 0) out += '\\';
    out += *format_decimal_string(*v);
    if (sep == std::string_view::npos) return out;
    start = sep + 1;
  }
}

std::string normalise_age_string(std::string_view text) {
  const std::string_view t = trim_spaces(text);
  if (t.size() == 4 && all_digits(t.substr(0, 3)) && (t[3] == 'D' || t[3] == 'W' || t[3] == 'M' || t[3] == 'Y')) {
    return std::string(t);
  }
  if (!t.empty() && t.size() <= 3 && all_digits(t)) return std::string(3 - t.size(), '0') + std::string(t) + "Y";
  return "";
}

std::string truncate_to_vr(std::string_view vr, std::string_view text) {
  const bool text_vr = vr == "LO" || vr == "LT" || vr == "PN" || vr == "SH" || vr == "CS" || vr == "AE" || vr == "ST";
  const VrRule* rule = find_rule(vr);
  std::size_t limit = (rule == nullptr || !text_vr) ? 0 : rule->max_length;
  if (vr == "PN") limit = 64;
  if (limit == 0 || text.size() <= limit) return std::string(text);
  std::size_t cut = limit;
  // Do not split a UTF-8 sequence: back up over continuation bytes (10xxxxxx).
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return std::string(text.substr(0, cut));
}

Status check_dataset_values(DcmItem& item, std::string_view where) {
  for (unsigned long i = 0; i < item.card(); ++i) {
    DcmElement* element = item.getElement(i);
    if (element == nullptr) continue;
    DcmTag tag = element->getTag();
    auto name = [&] {
      char key[16];
      std::snprintf(key, sizeof key, "(%04x,%04x)", tag.getGTag(), tag.getETag());
      return std::string(where) + ": " + tag.getTagName() + " " + key;
    };
    if (element->ident() == EVR_SQ) {
      auto* sequence = static_cast<DcmSequenceOfItems*>(element);
      for (unsigned long k = 0; k < sequence->card(); ++k) {
        const std::string inner = name() + " item " + std::to_string(k + 1);
        if (auto st = check_dataset_values(*sequence->getItem(k), inner); !st) return st;
      }
      continue;
    }
    const DcmVR vr(element->getVR());
    if (find_rule(vr.getVRName()) == nullptr) continue;  // binary VRs: nothing to check
    OFString value;
    if (element->getOFStringArray(value).bad()) {
      return fail(ErrorCode::kBadInput, name() + ": cannot read the value");
    }
    if (auto st = check_vr_value(vr.getVRName(), std::string_view(value.c_str(), value.length())); !st) {
      return fail(ErrorCode::kBadInput, name() + ": " + st.error().message);
    }
  }
  return ok_status();
}

}  // namespace pneumo
