// Small PNG plots through gnuplot: bar charts, histograms and line charts (training curves).
//
//   pneumo::PlotStyle style;
//   style.ylabel = "images";
//   auto st = pneumo::plot_bars("out/sex.png", "Sex", {"F", "M"}, {5412, 6635}, style);
//   auto h  = pneumo::plot_histogram("out/area.png", "Mask area", areas, /*bins=*/40, style);
//   auto l  = pneumo::plot_lines("out/loss.png", "Loss", "epoch",
//                                {{"train", epochs, train_loss}, {"valid", epochs, valid_loss}});
//   if (!st && st.error().code == pneumo::ErrorCode::kUnsupported) { /* no gnuplot */ }
//
// Each call writes the data and a script into a private temporary folder, runs gnuplot on it
// (pngcairo terminal, falling back to png), and renames the finished PNG onto `png`, so a
// reader never sees half a file. Text is drawn verbatim (gnuplot's "enhanced" markup is off, so
// underscores stay underscores). gnuplot is $PNEUMO_GNUPLOT if set, else `gnuplot` on PATH;
// when none is found every plot_* returns kUnsupported.
//
// Thread-safety: every function may be called from several threads at once.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pneumo/core/result.hpp"

namespace pneumo {

struct PlotStyle {
  int width = 900;   // pixels
  int height = 540;  // pixels
  std::string xlabel;
  std::string ylabel;
  bool log_x = false;  // histogram: log-spaced bins and a log x axis (values must be > 0)
  bool log_y = false;
};

struct PlotSeries {
  std::string name;
  std::vector<double> x;
  std::vector<double> y;  // requires: y.size() == x.size()
};

// The gnuplot executable to run, or nullopt when none can be found.
std::optional<std::filesystem::path> find_gnuplot();

// One bar per label, with its value printed above it.
// requires: labels.size() == values.size() (else kInvalidArgument)
Status plot_bars(const std::filesystem::path& png, std::string_view title, const std::vector<std::string>& labels,
                 const std::vector<double>& values, const PlotStyle& style = {});

// Histogram of `values` over `bins` equal-width (or, with style.log_x, log-spaced) bins spanning
// [min, max]. Empty `values` is kInvalidArgument.
Status plot_histogram(const std::filesystem::path& png, std::string_view title, const std::vector<double>& values,
                      int bins, const PlotStyle& style = {});

// One line (with points) per series; x and y of each series must have the same length.
Status plot_lines(const std::filesystem::path& png, std::string_view title, std::string_view xlabel,
                  const std::vector<PlotSeries>& series, const PlotStyle& style = {});

// Points only (no lines), one colour per series (e.g. one series per cluster); same checks as plot_lines.
Status plot_scatter(const std::filesystem::path& png, std::string_view title, const std::vector<PlotSeries>& series,
                    const PlotStyle& style = {});

// The bins plot_histogram draws: [lo, hi) except the last, which includes max.
struct HistogramBin {
  double lo = 0;
  double hi = 0;
  long long count = 0;
};
// requires: bins >= 1; with log_x every value > 0. Empty values -> empty result.
std::vector<HistogramBin> histogram_bins(const std::vector<double>& values, int bins, bool log_x = false);

}  // namespace pneumo
