#include "pneumo/eval/prob_map.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace pneumo {

ProbMap flip_horizontal(const ProbMap& map) {
  ProbMap out = map;
  for (int r = 0; r < map.rows; ++r) {
    auto row = out.p.begin() + static_cast<std::ptrdiff_t>(r) * map.cols;
    std::reverse(row, row + map.cols);
  }
  return out;
}

ProbMap average(const std::vector<ProbMap>& maps) {
  if (maps.empty()) throw std::invalid_argument("average: no probability maps");
  const ProbMap& first = maps.front();
  // Accumulate in double so the mean of many maps does not depend on float rounding order.
  std::vector<double> sum(first.p.size(), 0.0);
  for (std::size_t m = 0; m < maps.size(); ++m) {
    const ProbMap& map = maps[m];
    if (map.rows != first.rows || map.cols != first.cols || map.p.size() != first.p.size())
      throw std::invalid_argument("average: map " + std::to_string(m) + " is " + std::to_string(map.rows) + "x" +
                                  std::to_string(map.cols) + ", expected " + std::to_string(first.rows) + "x" +
                                  std::to_string(first.cols));
    for (std::size_t i = 0; i < sum.size(); ++i) sum[i] += map.p[i];
  }
  ProbMap out(first.rows, first.cols);
  const double n = static_cast<double>(maps.size());
  for (std::size_t i = 0; i < sum.size(); ++i) out.p[i] = static_cast<float>(sum[i] / n);
  return out;
}

}  // namespace pneumo
