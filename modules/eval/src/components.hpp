// Internal: 8-connected component labelling shared by postprocess.cpp and search.cpp,
// so the search scores exactly what apply_postprocess produces. OpenCV stays behind it.
#pragma once

#include <cstdint>
#include <vector>

namespace pneumo::detail {

// Labels the non-zero pixels of a rows x cols byte image: labels[i] is 0 for background and
// 1..n for the n components; areas[k] is the pixel count of component k (areas[0] = background).
// Returns n.
int label_components_8(const std::uint8_t* pixels, int rows, int cols, std::vector<int>& labels,
                       std::vector<int>& areas);

}  // namespace pneumo::detail
