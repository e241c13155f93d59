// String helpers used by the parsers. Thread-safe (pure functions).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pneumo {

std::string_view trim(std::string_view s);  // strips spaces, tabs, CR, LF and a UTF-8 BOM
std::vector<std::string_view> split(std::string_view s, char sep);
std::optional<long long> parse_int(std::string_view s);  // whole string must be an integer
std::optional<double> parse_double(std::string_view s);
std::string to_lower(std::string_view s);

}  // namespace pneumo
