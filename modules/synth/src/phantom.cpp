// The chest phantom: analytic anatomy in canonical coordinates (0..1 across the image), sampled
// per pixel through a small pose transform. Pass 1 finds the lung fields and each lung pixel's
// polar position (normalised radius and angle); pneumothorax regions are drawn from those, then
// pass 2 renders intensities knowing which pixels are pneumothorax or pleural line.
#include "phantom.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>

namespace pneumo::synth_detail {

std::uint64_t mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uint64_t combine_keys(std::uint64_t a, std::uint64_t b) {
  return mix64(a ^ (mix64(b) + 0x632be59bd9b4e019ULL + (a << 6) + (a >> 2)));
}

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kLungExponent = 2.4;  // superellipse: rounder than an ellipse, like lung fields

double clamp01(double v) { return v < 0 ? 0 : (v > 1 ? 1 : v); }
double smoothstep(double edge0, double edge1, double v) {
  double t = clamp01((v - edge0) / (edge1 - edge0));
  return t * t * (3 - 2 * t);
}

// Smooth value noise in [0, 1): hashed lattice values, bilinear with smoothstep weights.
class ValueNoise {
 public:
  explicit ValueNoise(std::uint64_t key) : key_(key) {}
  double operator()(double x, double y) const {
    double fx = std::floor(x), fy = std::floor(y);
    auto ix = static_cast<std::int64_t>(fx), iy = static_cast<std::int64_t>(fy);
    double tx = x - fx, ty = y - fy;
    tx = tx * tx * (3 - 2 * tx);
    ty = ty * ty * (3 - 2 * ty);
    double v00 = lattice(ix, iy), v10 = lattice(ix + 1, iy);
    double v01 = lattice(ix, iy + 1), v11 = lattice(ix + 1, iy + 1);
    double top = v00 + (v10 - v00) * tx, bottom = v01 + (v11 - v01) * tx;
    return top + (bottom - top) * ty;
  }

 private:
  double lattice(std::int64_t x, std::int64_t y) const {
    std::uint64_t h = mix64(key_ ^ (static_cast<std::uint64_t>(x) * 0x9E3779B185EBCA87ULL) ^
                            (static_cast<std::uint64_t>(y) * 0xC2B2AE3D27D4EB4FULL));
    return static_cast<double>(h >> 11) * 0x1.0p-53;
  }
  std::uint64_t key_;
};

// Per-pixel lung geometry from pass 1.
struct LungSample {
  std::int8_t side = -1;   // -1 outside both lungs, 0 image-left lung, 1 image-right lung
  float radius = 2.f;      // normalised superellipse radius (1 = lung wall)
  float angle_deg = 0.f;   // 0 = lateral, -90 = apex, +90 = base (same for both lungs)
  float membership = 0.f;  // soft lung membership 0..1 (soft edges for rendering)
};

struct Region {
  int side;
  double center_deg, half_width_deg, depth;
};

class Renderer {
 public:
  Renderer(const Anatomy& anatomy, const Acquisition& acq, int size)
      : a_(anatomy), q_(acq), size_(size), n_(static_cast<std::size_t>(size) * size),
        markings_fine_(combine_keys(acq.noise_key, 1)),
        markings_coarse_(combine_keys(acq.noise_key, 2)),
        density_(combine_keys(acq.noise_key, 3)),
        heart_scale_(acq.anterior_posterior ? 1.12 : 1.0) {
    cos_r_ = std::cos(-acq.rotation_rad);
    sin_r_ = std::sin(-acq.rotation_rad);
  }

  // Canonical anatomy coordinates of pixel (r, c): undo shift, scale and rotation.
  void canonical(int r, int c, double& x, double& y) const {
    double u = (c + 0.5) / size_ - 0.5 - q_.shift_x;
    double v = (r + 0.5) / size_ - 0.5 - q_.shift_y;
    u /= q_.scale;
    v /= q_.scale;
    x = 0.5 + cos_r_ * u - sin_r_ * v;
    y = 0.5 + sin_r_ * u + cos_r_ * v;
  }

  double body_half_width(double y) const {
    // Neck at the top, shoulders widening into the thorax.
    return 0.085 + (a_.body_half_width - 0.085) * smoothstep(0.02, 0.17, y);
  }
  double dome_y(int side, double x) const {
    double cx = 0.5 + (side == 0 ? -1 : 1) * a_.lung_offset[side];
    double u = (x - cx) / (a_.lung_half_width[side] * 1.35);
    double base = a_.lung_center_y[side] + 0.8 * a_.lung_half_height[side] -
                  (side == 0 ? a_.right_dome_raise : 0.0);
    return base - a_.dome_height * (1 - u * u);
  }
  double heart_value(double x, double y) const {  // > 0 inside, soft edge
    double hx = 0.5 + a_.heart_dx, hy = a_.lung_center_y[1] + a_.heart_dy;
    double u = (x - hx) / (a_.heart_rx * heart_scale_), v = (y - hy) / (a_.heart_ry * heart_scale_);
    return smoothstep(1.05, 0.92, u * u + v * v);
  }
  double mediastinum_value(double x, double y) const {
    double w = a_.mediastinum_half_width * (1 + 0.5 * smoothstep(0.2, 0.6, y));
    return smoothstep(w + 0.008, w - 0.008, std::fabs(x - 0.5));
  }

  LungSample lung_sample(double x, double y) const {
    LungSample s;
    for (int side = 0; side < 2; ++side) {
      double sign = side == 0 ? -1 : 1;
      double dx = (x - (0.5 + sign * a_.lung_offset[side])) * sign;  // + = lateral
      double dy = y - a_.lung_center_y[side];
      double a = a_.lung_half_width[side], b = a_.lung_half_height[side];
      if (std::fabs(dx) > 1.2 * a || std::fabs(dy) > 1.05 * b) continue;
      // Narrower towards the apex, a little fuller towards the base.
      double up = clamp01(-dy / b), down = clamp01(dy / b);
      double a_eff = a * (1 - 0.32 * up * up + 0.06 * down);
      double radius = std::pow(std::pow(std::fabs(dx) / a_eff, kLungExponent) +
                                   std::pow(std::fabs(dy) / b, kLungExponent),
                               1.0 / kLungExponent);
      if (radius >= 1.04) continue;
      double below_dome = y - dome_y(side, x);
      double m = smoothstep(1.0, 0.97, radius) * smoothstep(0.004, -0.004, below_dome) *
                 (1 - heart_value(x, y)) * (1 - mediastinum_value(x, y));
      if (m <= 0) continue;
      s.side = static_cast<std::int8_t>(side);
      s.radius = static_cast<float>(radius);
      s.angle_deg = static_cast<float>(std::atan2(dy / b, dx / a) * 180.0 / kPi);
      s.membership = static_cast<float>(m);
    }
    return s;
  }

  // Rib intensity 0..1: posterior ribs arching down and out from the spine.
  double rib_value(double x, double y) const {
    double t = std::fabs(x - 0.5);
    if (t < 0.03 || t > body_half_width(y) - 0.01) return 0;
    // Nearly level at the spine, curving steeply down towards the lateral chest wall.
    double shape = -0.25 * t + a_.rib_curvature * t * t;
    double slope = -0.25 + 2 * a_.rib_curvature * t;
    double perpendicular = 1.0 / std::sqrt(1 + slope * slope);
    double kf = (y - a_.rib_first_y - shape) / a_.rib_spacing;
    int k0 = static_cast<int>(std::floor(kf));
    double best = 0;
    for (int k = k0 - 1; k <= k0 + 1; ++k) {
      if (k < 0 || k > 10) continue;
      double centre = a_.rib_first_y + k * a_.rib_spacing + shape * (1 + 0.03 * k);
      double w = 0.0105 + 0.0007 * k;
      double d = std::fabs(y - centre) * perpendicular;
      if (d >= w) continue;
      double e = d / w;
      double v = (0.65 + 0.35 * e * e * e * e) * smoothstep(w, w - 0.003, d);  // bright cortex
      v *= smoothstep(0.03, 0.06, t);  // fades into the spine
      best = std::max(best, v);
    }
    return best;
  }

  double clavicle_value(double x, double y) const {
    double best = 0;
    for (int side = 0; side < 2; ++side) {
      double sign = side == 0 ? -1 : 1;
      double ax = 0.5 + sign * 0.045, ay = a_.clavicle_medial_y;
      double bx = 0.5 + sign * 0.27, by = a_.clavicle_lateral_y;
      double vx = bx - ax, vy = by - ay, wx = x - ax, wy = y - ay;
      double h = clamp01((wx * vx + wy * vy) / (vx * vx + vy * vy));
      double d = std::hypot(wx - h * vx, wy - h * vy - 0.012 * std::sin(h * kPi));
      double w = 0.0125 * (1 - 0.25 * h);
      best = std::max(best, smoothstep(w, w - 0.003, d));
    }
    return best;
  }

  // Lung markings: ridged noise gives thin branching vessel-like lines, denser near the hilum.
  double markings(double x, double y, double radius) const {
    double n1 = markings_coarse_(x * 17, y * 17), n2 = markings_fine_(x * 38, y * 38);
    double r1 = 1 - std::fabs(2 * n1 - 1), r2 = 1 - std::fabs(2 * n2 - 1);
    double v = 0.085 * r1 * r1 * r1 * r1 + 0.05 * r2 * r2 * r2 * r2 +
               0.03 * density_(x * 6, y * 6);
    return v * (1.25 - 0.55 * radius);
  }

  void pass1(std::vector<LungSample>& lung, Mask& lungs) const {
    lung.assign(n_, LungSample{});
    lungs = Mask(size_, size_);
    for (int r = 0; r < size_; ++r) {
      for (int c = 0; c < size_; ++c) {
        double x, y;
        canonical(r, c, x, y);
        LungSample s = lung_sample(x, y);
        std::size_t i = static_cast<std::size_t>(r) * size_ + c;
        lung[i] = s;
        // The hard lung field: inside the wall and mostly lung (not heart/dome/mediastinum).
        if (s.side >= 0 && s.radius < 1.0f && s.membership > 0.5f) lungs.px[i] = 1;
      }
    }
  }

  Image8 pass2(const std::vector<LungSample>& lung, const Mask& ptx, const Mask& pleura) const {
    Image8 img(size_, size_);
    ValueNoise haze(combine_keys(q_.noise_key, 4)), mottle(combine_keys(q_.noise_key, 5));
    const std::uint64_t grain_key = combine_keys(q_.noise_key, 6);
    for (int r = 0; r < size_; ++r) {
      for (int c = 0; c < size_; ++c) {
        std::size_t i = static_cast<std::size_t>(r) * size_ + c;
        double x, y;
        canonical(r, c, x, y);
        double half = body_half_width(y);
        double t = std::fabs(x - 0.5);
        double body = smoothstep(-0.015, 0.015, half - t);
        double thickness = clamp01(1 - (t / half) * (t / half));
        double tissue = a_.tissue_level + 0.17 * std::sqrt(thickness);
        // Abdomen below the domes is denser.
        double abdomen = smoothstep(-0.01, 0.04, y - std::max(dome_y(0, x), dome_y(1, x))) *
                         thickness;
        tissue += 0.14 * abdomen;
        double v = 0.03 * (1 - body) + tissue * body;

        // Mediastinum, spine and heart are brighter than plain soft tissue.
        double spine = smoothstep(0.034, 0.026, t) * (0.8 + 0.2 * std::cos(2 * kPi * y / 0.046));
        double central = std::max(mediastinum_value(x, y), heart_value(x, y));
        v += body * (0.13 * central + 0.06 * spine);

        const LungSample& s = lung[i];
        double rib = rib_value(x, y) * body;
        bool in_ptx = ptx.px[i] != 0;
        if (s.side >= 0) {
          double lung_value;
          // More overlying soft tissue towards the bases.
          double base = smoothstep(-0.3, 1.0, (y - a_.lung_center_y[s.side]) /
                                                  a_.lung_half_height[s.side]);
          if (in_ptx) {
            // Pneumothorax: air without lung tissue: darker and free of markings.
            lung_value = a_.lung_level - 0.075 + 0.04 * base;
          } else {
            lung_value = a_.lung_level + markings(x, y, s.radius) + 0.08 * base +
                         0.05 * smoothstep(0.75, 1.0, s.radius);
          }
          v = v + (lung_value - v) * s.membership;
        }
        double rib_gain = 0.02 + 0.09 * (s.side >= 0 ? s.membership : 0.0);
        if (in_ptx) rib_gain *= 0.45;  // ribs still show through, fainter
        v += rib_gain * rib;
        v += 0.17 * clavicle_value(x, y) * body;
        if (pleura.px[i]) v += 0.2;  // visceral pleural line

        // Scanner/patient variation: smooth haze and fine grain.
        v += 0.05 * (haze(x * 3, y * 3) - 0.5) + 0.025 * (mottle(x * 11, y * 11) - 0.5);
        std::uint64_t g = mix64(grain_key ^ (static_cast<std::uint64_t>(i) * 0x9E3779B97F4A7C15ULL));
        v += 0.016 * (static_cast<double>(g >> 11) * 0x1.0p-53 - 0.5);

        v = (v - 0.35) * q_.contrast + 0.35 + q_.brightness;
        v = std::pow(clamp01(v), q_.gamma);
        img.px[i] = static_cast<std::uint8_t>(std::lround(v * 255.0));
      }
    }
    return img;
  }

  std::size_t pixels() const { return n_; }
  int size() const { return size_; }

 private:
  const Anatomy& a_;
  const Acquisition& q_;
  int size_;
  std::size_t n_;
  ValueNoise markings_fine_, markings_coarse_, density_;
  double heart_scale_;
  double cos_r_ = 1, sin_r_ = 0;
};

// Keeps only the largest 4-connected component of `mask`; returns its area.
long long keep_largest_component(Mask& mask) {
  const int rows = mask.rows, cols = mask.cols;
  std::vector<int> label(mask.px.size(), 0);
  std::vector<int> stack;
  int best_label = 0, next_label = 0;
  long long best_area = 0;
  for (std::size_t start = 0; start < mask.px.size(); ++start) {
    if (!mask.px[start] || label[start]) continue;
    ++next_label;
    long long area = 0;
    stack.assign(1, static_cast<int>(start));
    label[start] = next_label;
    while (!stack.empty()) {
      int p = stack.back();
      stack.pop_back();
      ++area;
      int r = p / cols, c = p % cols;
      const int nb[4][2] = {{r - 1, c}, {r + 1, c}, {r, c - 1}, {r, c + 1}};
      for (const auto& q : nb) {
        if (q[0] < 0 || q[0] >= rows || q[1] < 0 || q[1] >= cols) continue;
        int j = q[0] * cols + q[1];
        if (mask.px[j] && !label[j]) {
          label[j] = next_label;
          stack.push_back(j);
        }
      }
    }
    if (area > best_area) {
      best_area = area;
      best_label = next_label;
    }
  }
  for (std::size_t i = 0; i < mask.px.size(); ++i) {
    mask.px[i] = (mask.px[i] && label[i] == best_label) ? 1 : 0;
  }
  return best_area;
}

// Chebyshev dilation by `radius` pixels (separable max filter).
Mask dilate(const Mask& mask, int radius) {
  const int rows = mask.rows, cols = mask.cols;
  Mask horizontal(rows, cols), out(rows, cols);
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      if (!mask.at(r, c)) continue;
      for (int k = std::max(0, c - radius); k <= std::min(cols - 1, c + radius); ++k) {
        horizontal.at(r, k) = 1;
      }
    }
  }
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      if (!horizontal.at(r, c)) continue;
      for (int k = std::max(0, r - radius); k <= std::min(rows - 1, r + radius); ++k) {
        out.at(k, c) = 1;
      }
    }
  }
  return out;
}

Mask rasterize_region(const Region& region, const std::vector<LungSample>& lung, const Mask& lungs) {
  Mask m(lungs.rows, lungs.cols);
  for (std::size_t i = 0; i < lung.size(); ++i) {
    const LungSample& s = lung[i];
    if (!lungs.px[i] || s.side != region.side) continue;
    double off = (s.angle_deg - region.center_deg) / region.half_width_deg;
    if (std::fabs(off) >= 1) continue;
    double depth = region.depth * std::pow(std::cos(off * kPi / 2), 0.6);
    if (s.radius > 1 - depth) m.px[i] = 1;
  }
  return m;
}

Region random_region(Rng& rng, bool narrow) {
  Region g;
  g.side = rng.integer(0, 1);
  double kind = rng.uniform();
  if (kind < 0.4) {  // apical
    g.center_deg = rng.uniform(-110, -75);
    g.half_width_deg = rng.uniform(35, 60);
  } else if (kind < 0.75) {  // lateral
    g.center_deg = rng.uniform(-25, 10);
    g.half_width_deg = rng.uniform(35, 55);
  } else {  // apico-lateral
    g.center_deg = rng.uniform(-65, -35);
    g.half_width_deg = rng.uniform(40, 70);
  }
  if (narrow) g.half_width_deg = std::min(g.half_width_deg, rng.uniform(25, 38));
  // Mostly small-to-moderate, sometimes large.
  double u = rng.uniform();
  g.depth = 0.16 + 0.36 * std::pow(u, 1.6);
  return g;
}

}  // namespace

Anatomy random_anatomy(Rng& rng) {
  Anatomy a{};
  a.body_half_width = rng.uniform(0.40, 0.46);
  double offset = rng.uniform(0.18, 0.2), cy = rng.uniform(0.43, 0.46);
  double half_w = rng.uniform(0.14, 0.155), half_h = rng.uniform(0.29, 0.33);
  for (int s = 0; s < 2; ++s) {
    a.lung_offset[s] = offset + rng.uniform(-0.006, 0.006);
    a.lung_center_y[s] = cy + rng.uniform(-0.008, 0.008);
    a.lung_half_width[s] = half_w * rng.uniform(0.95, 1.03);
    a.lung_half_height[s] = half_h * rng.uniform(0.96, 1.03);
  }
  a.dome_height = rng.uniform(0.035, 0.06);
  a.right_dome_raise = rng.uniform(0.01, 0.03);
  a.heart_dx = rng.uniform(0.045, 0.07);
  a.heart_dy = rng.uniform(0.17, 0.2);
  a.heart_rx = rng.uniform(0.13, 0.155);
  a.heart_ry = rng.uniform(0.11, 0.13);
  a.mediastinum_half_width = rng.uniform(0.045, 0.06);
  a.rib_first_y = rng.uniform(0.12, 0.15);
  a.rib_spacing = rng.uniform(0.05, 0.058);
  a.rib_curvature = rng.uniform(1.8, 2.4);
  a.clavicle_medial_y = rng.uniform(0.145, 0.165);
  a.clavicle_lateral_y = rng.uniform(0.08, 0.1);
  a.tissue_level = rng.uniform(0.36, 0.42);
  a.lung_level = rng.uniform(0.15, 0.2);
  return a;
}

Acquisition random_acquisition(Rng& rng, bool anterior_posterior) {
  Acquisition q{};
  q.anterior_posterior = anterior_posterior;
  q.shift_x = rng.uniform(-0.025, 0.025);
  q.shift_y = rng.uniform(-0.025, 0.025);
  q.scale = rng.uniform(0.95, 1.04);
  q.rotation_rad = rng.uniform(-3, 3) * kPi / 180;
  q.contrast = rng.uniform(0.85, 1.15);
  q.brightness = rng.uniform(-0.05, 0.05);
  q.gamma = rng.uniform(0.8, 1.25);
  q.noise_key = rng.next();
  return q;
}

Phantom render_phantom(const Anatomy& anatomy, const Acquisition& acq, int size, int regions,
                       Rng& rng) {
  Renderer renderer(anatomy, acq, size);
  Phantom out;
  std::vector<LungSample> lung;
  renderer.pass1(lung, out.lungs);

  // Regions at least ~300 pixels at 256 px, so they stay learnable after downscaling.
  const double scale = static_cast<double>(size) / 256.0;
  const long long min_area = std::max<long long>(30, std::llround(300 * scale * scale));
  const int gap = std::max(2, static_cast<int>(std::lround(3 * scale)));
  Mask taken(size, size);  // union of accepted regions, dilated by the gap
  for (int k = 0; k < regions; ++k) {
    for (int attempt = 0; attempt < 40; ++attempt) {
      Region g = random_region(rng, /*narrow=*/k > 0);
      if (k == 0) g.depth += 0.01 * attempt;  // the first region must fit: grow until it does
      Mask m = rasterize_region(g, lung, out.lungs);
      long long area = keep_largest_component(m);
      if (area < min_area) continue;
      bool touches = false;
      for (std::size_t i = 0; i < m.px.size() && !touches; ++i) touches = m.px[i] && taken.px[i];
      if (touches) continue;
      Mask grown = dilate(m, gap);
      for (std::size_t i = 0; i < grown.px.size(); ++i) taken.px[i] |= grown.px[i];
      out.masks.push_back(std::move(m));
      break;
    }
  }

  Mask ptx(size, size);
  for (const Mask& m : out.masks) {
    for (std::size_t i = 0; i < m.px.size(); ++i) ptx.px[i] |= m.px[i];
  }
  // The visceral pleural line: a thin band just medial to the air, inside the lung field.
  Mask pleura(size, size);
  if (!out.masks.empty()) {
    const int width = std::max(1, static_cast<int>(std::lround(1.2 * scale)));
    Mask band = dilate(ptx, width);
    for (std::size_t i = 0; i < band.px.size(); ++i) {
      pleura.px[i] = band.px[i] && !ptx.px[i] && out.lungs.px[i];
    }
  }
  out.image = renderer.pass2(lung, ptx, pleura);
  return out;
}

}  // namespace pneumo::synth_detail
