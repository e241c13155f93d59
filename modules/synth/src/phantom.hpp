// Internal to the synth module: seeded randomness and the chest phantom renderer.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "pneumo/core/image.hpp"

namespace pneumo::synth_detail {

// splitmix64 finaliser: a good 64-bit mixer for deriving independent keys.
std::uint64_t mix64(std::uint64_t x);
std::uint64_t combine_keys(std::uint64_t a, std::uint64_t b);

// std::mt19937_64 with the module's own distributions (portable, unlike std::*_distribution).
class Rng {
 public:
  explicit Rng(std::uint64_t key) : engine_(mix64(key)) {}
  std::uint64_t next() { return engine_(); }
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }  // [0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  int integer(int lo, int hi) {  // [lo, hi]
    return lo + static_cast<int>(uniform() * (hi - lo + 1));
  }
  bool chance(double p) { return uniform() < p; }

 private:
  std::mt19937_64 engine_;
};

// Anatomy of one patient (shared by a patient's images).
struct Anatomy {
  double body_half_width;
  double lung_offset[2];       // |lung centre x - 0.5|, index 0 = image left, 1 = image right
  double lung_center_y[2];
  double lung_half_width[2];
  double lung_half_height[2];
  double dome_height;
  double right_dome_raise;     // the patient's right (image left) hemidiaphragm sits higher
  double heart_dx, heart_dy, heart_rx, heart_ry;
  double mediastinum_half_width;
  double rib_first_y, rib_spacing, rib_curvature;
  double clavicle_medial_y, clavicle_lateral_y;
  double tissue_level, lung_level;
};
Anatomy random_anatomy(Rng& rng);

// Acquisition of one image.
struct Acquisition {
  bool anterior_posterior;     // AP: heart looks larger
  double shift_x, shift_y, scale, rotation_rad;
  double contrast, brightness, gamma;
  std::uint64_t noise_key;
};
Acquisition random_acquisition(Rng& rng, bool anterior_posterior);

struct Phantom {
  Image8 image;
  std::vector<Mask> masks;  // disjoint, non-touching, each one 4-connected region
  Mask lungs;
};

// Renders a size x size image with `regions` pneumothorax regions (0 = negative). Fewer regions
// come back only when no non-touching placement was found (rare, and only for 3).
Phantom render_phantom(const Anatomy& anatomy, const Acquisition& acq, int size, int regions,
                       Rng& rng);

}  // namespace pneumo::synth_detail
