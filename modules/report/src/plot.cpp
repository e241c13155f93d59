#include "pneumo/report/plot.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "pneumo/core/files.hpp"
#include "pneumo/core/strings.hpp"

extern char** environ;

namespace fs = std::filesystem;

namespace pneumo {
namespace {

// gnuplot single-quoted string: no escapes are processed, a quote is written twice.
std::string gp_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    if (c == '\n' || c == '\r') c = ' ';
    out += c;
  }
  return out + "'";
}

// A label inside a data file: double-quoted; quotes inside would end it, so they become '.
std::string data_label(std::string_view s) {
  std::string out = "\"";
  for (char c : s) out += (c == '"' || c == '\n' || c == '\r') ? '\'' : c;
  return out + "\"";
}

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

// A private folder under the system temp dir, removed when this goes out of scope.
class TempDir {
 public:
  TempDir() {
    static std::atomic<unsigned> counter{0};
    path_ = fs::temp_directory_path() /
            ("pneumo-plot-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::error_code ec;
    fs::remove_all(path_, ec);
    fs::create_directories(path_, ec);
    ok_ = !ec;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  bool ok() const { return ok_; }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
  bool ok_ = false;
};

// Runs `gnuplot script`, stdout and stderr into `log`. Returns the exit status (-1: not started).
int run_gnuplot(const fs::path& gnuplot, const fs::path& script, const fs::path& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  std::string arg0 = gnuplot.string(), arg1 = script.string();
  char* argv[] = {arg0.data(), arg1.data(), nullptr};
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, arg0.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string first_lines(const std::string& text, std::size_t max_chars = 300) {
  std::string out;
  for (char c : text) {
    if (out.size() >= max_chars) break;
    out += (c == '\n' || c == '\r') ? ' ' : c;
  }
  return std::string(trim(out));
}

// 0 = untested, 1 = pngcairo works, 2 = only png works.
std::atomic<int> g_terminal{0};

// Writes data + script into a temp dir, runs gnuplot writing straight into the temp name that
// write_via_temp then renames onto `png`.
// `body` is the plot part of the script; it refers to the data file as DATA.
Status render(const fs::path& png, std::string_view title, const PlotStyle& style, const std::string& data,
              const std::string& body) {
  auto gnuplot = find_gnuplot();
  if (!gnuplot) {
    return fail(ErrorCode::kUnsupported, png.string() + ": gnuplot not found (install gnuplot-nox or set PNEUMO_GNUPLOT)");
  }
  TempDir tmp;
  if (!tmp.ok()) return fail(ErrorCode::kIo, tmp.path().string() + ": cannot create a temporary folder for gnuplot");
  const fs::path data_path = tmp.path() / "data.txt";
  if (auto st = write_file_atomic(data_path, data); !st) return st;

  return write_via_temp(png, [&](const fs::path& temp_png) -> Status {
    std::string last_log;
    for (int attempt = 0; attempt < 2; ++attempt) {
      const int known = g_terminal.load();
      const bool cairo = known == 1 || (known == 0 && attempt == 0);
      std::ostringstream s;
      s << "set encoding utf8\n";
      if (cairo) {
        s << "set terminal pngcairo noenhanced size " << style.width << "," << style.height << " font 'Sans,10'\n";
      } else {
        s << "set terminal png noenhanced size " << style.width << "," << style.height << "\n";
      }
      s << "set output " << gp_quote(temp_png.string()) << "\n";
      s << "set title " << gp_quote(title) << "\n";
      if (!style.xlabel.empty()) s << "set xlabel " << gp_quote(style.xlabel) << "\n";
      if (!style.ylabel.empty()) s << "set ylabel " << gp_quote(style.ylabel) << "\n";
      if (style.log_x) s << "set logscale x\n";
      if (style.log_y) s << "set logscale y\n";
      s << "set grid ytics lc rgb '#dddddd'\n";
      s << "DATA = " << gp_quote(data_path.string()) << "\n";
      s << body << "\nset output\n";
      const fs::path script = tmp.path() / "plot.gp", log = tmp.path() / "gnuplot.log";
      if (auto st = write_file_atomic(script, s.str()); !st) return st;
      const int rc = run_gnuplot(*gnuplot, script, log);
      auto log_text = read_file(log);
      last_log = log_text ? first_lines(*log_text) : "";
      std::error_code ec;
      if (rc == 0 && fs::file_size(temp_png, ec) > 0 && !ec) {
        if (known == 0) g_terminal = cairo ? 1 : 2;
        return ok_status();
      }
      if (rc < 0) return fail(ErrorCode::kIo, png.string() + ": cannot run " + gnuplot->string());
      if (!cairo || known != 0) break;  // only retry when pngcairo was being tried for the first time
    }
    return fail(ErrorCode::kIo, png.string() + ": gnuplot failed: " + last_log);
  });
}

}  // namespace

std::optional<fs::path> find_gnuplot() {
  auto executable = [](const fs::path& p) { return ::access(p.c_str(), X_OK) == 0 && !fs::is_directory(p); };
  if (const char* env = std::getenv("PNEUMO_GNUPLOT"); env && *env) {
    if (executable(env)) return fs::path(env);
    return std::nullopt;  // set but wrong: say "not found" rather than silently using another one
  }
  const char* path = std::getenv("PATH");
  for (std::string_view dir : split(path ? path : "/usr/bin:/bin", ':')) {
    if (dir.empty()) continue;
    fs::path candidate = fs::path(std::string(dir)) / "gnuplot";
    if (executable(candidate)) return candidate;
  }
  return std::nullopt;
}

std::vector<HistogramBin> histogram_bins(const std::vector<double>& values, int bins, bool log_x) {
  std::vector<HistogramBin> out;
  if (values.empty() || bins < 1) return out;
  auto [lo_it, hi_it] = std::minmax_element(values.begin(), values.end());
  double lo = *lo_it, hi = *hi_it;
  auto to_axis = [&](double v) { return log_x ? std::log10(v) : v; };
  auto from_axis = [&](double v) { return log_x ? std::pow(10.0, v) : v; };
  double a = to_axis(lo), b = to_axis(hi);
  if (b <= a) {  // all values equal: one bin of width 1 around them (in axis units)
    a -= 0.5;
    b += 0.5;
  }
  const double width = (b - a) / bins;
  out.resize(bins);
  for (int i = 0; i < bins; ++i) {
    out[i].lo = from_axis(a + width * i);
    out[i].hi = from_axis(i + 1 == bins ? b : a + width * (i + 1));
  }
  for (double v : values) {
    int i = static_cast<int>(std::floor((to_axis(v) - a) / width));
    out[std::clamp(i, 0, bins - 1)].count += 1;
  }
  return out;
}

Status plot_bars(const fs::path& png, std::string_view title, const std::vector<std::string>& labels,
                 const std::vector<double>& values, const PlotStyle& style) {
  if (labels.size() != values.size()) {
    return fail(ErrorCode::kInvalidArgument, png.string() + ": " + std::to_string(labels.size()) + " labels but " +
                                                 std::to_string(values.size()) + " values");
  }
  if (labels.empty()) return fail(ErrorCode::kInvalidArgument, png.string() + ": nothing to plot");
  std::string data;
  std::size_t longest = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    data += data_label(labels[i]) + " " + number(values[i]) + "\n";
    longest = std::max(longest, labels[i].size());
  }
  std::string body =
      "set style fill solid 0.85 border -1\n"
      "set boxwidth 0.7\n"
      "unset key\n"
      "set xrange [-0.6:" + number(static_cast<double>(labels.size()) - 0.4) + "]\n" +
      std::string(style.log_y ? "set yrange [0.8:*]\n" : "set yrange [0:*]\nset offsets 0,0,graph 0.08,0\n") +
      (labels.size() > 6 || longest > 10 ? "set xtics rotate by -30\n" : "") +
      "plot DATA using 0:2:xtic(1) with boxes lc rgb '#4c72b0', "
      "DATA using 0:2:(sprintf('%g', $2)) with labels offset 0,0.8\n";
  return render(png, title, style, data, body);
}

Status plot_histogram(const fs::path& png, std::string_view title, const std::vector<double>& values, int bins,
                      const PlotStyle& style) {
  if (values.empty()) return fail(ErrorCode::kInvalidArgument, png.string() + ": no values for the histogram");
  if (bins < 1) return fail(ErrorCode::kInvalidArgument, png.string() + ": bins must be at least 1");
  if (style.log_x && *std::min_element(values.begin(), values.end()) <= 0) {
    return fail(ErrorCode::kInvalidArgument, png.string() + ": a log-x histogram needs values > 0");
  }
  std::string data;
  const auto edges = histogram_bins(values, bins, style.log_x);
  for (const HistogramBin& bin : edges) {
    // Centre and width in data units, so a box spans exactly [lo, hi] on a log axis too.
    data += number((bin.lo + bin.hi) / 2) + " " + number(static_cast<double>(bin.count)) + " " +
            number(bin.hi - bin.lo) + "\n";
  }
  std::string body =
      "set style fill solid 0.85 border rgb '#333333'\n"
      "unset key\n"
      "set xrange [" + number(edges.front().lo) + ":" + number(edges.back().hi) + "]\n" +
      std::string(style.log_y ? "set yrange [0.8:*]\n" : "set yrange [0:*]\nset offsets 0,0,graph 0.05,0\n") +
      "plot DATA using 1:2:3 with boxes lc rgb '#55a868'\n";
  return render(png, title, style, data, body);
}

Status plot_lines(const fs::path& png, std::string_view title, std::string_view xlabel,
                  const std::vector<PlotSeries>& series, const PlotStyle& style) {
  if (series.empty()) return fail(ErrorCode::kInvalidArgument, png.string() + ": no series to plot");
  std::string data;
  std::string body = "set key outside right top\nplot ";
  for (std::size_t s = 0; s < series.size(); ++s) {
    const PlotSeries& line = series[s];
    if (line.x.size() != line.y.size() || line.x.empty()) {
      return fail(ErrorCode::kInvalidArgument, png.string() + ": series '" + line.name + "' has " +
                                                   std::to_string(line.x.size()) + " x values and " +
                                                   std::to_string(line.y.size()) + " y values");
    }
    for (std::size_t i = 0; i < line.x.size(); ++i) data += number(line.x[i]) + " " + number(line.y[i]) + "\n";
    data += "\n\n";  // gnuplot data block separator: select with `index s`
    body += (s ? ", " : "") + std::string("DATA index ") + std::to_string(s) +
            " using 1:2 with linespoints pt 7 ps 0.6 lw 2 title " + gp_quote(line.name);
  }
  PlotStyle with_x = style;
  if (with_x.xlabel.empty()) with_x.xlabel = std::string(xlabel);
  return render(png, title, with_x, data, body + "\n");
}

Status plot_scatter(const fs::path& png, std::string_view title, const std::vector<PlotSeries>& series,
                    const PlotStyle& style) {
  if (series.empty()) return fail(ErrorCode::kInvalidArgument, png.string() + ": no series to plot");
  std::string data;
  std::string body = "set key outside right top\nplot ";
  for (std::size_t s = 0; s < series.size(); ++s) {
    const PlotSeries& points = series[s];
    if (points.x.size() != points.y.size() || points.x.empty()) {
      return fail(ErrorCode::kInvalidArgument, png.string() + ": series '" + points.name + "' has " +
                                                   std::to_string(points.x.size()) + " x values and " +
                                                   std::to_string(points.y.size()) + " y values");
    }
    for (std::size_t i = 0; i < points.x.size(); ++i) data += number(points.x[i]) + " " + number(points.y[i]) + "\n";
    data += "\n\n";
    // gnuplot cycles 8 colours: each further 8 series get another point shape, so none look alike.
    static constexpr int kShapes[] = {7, 5, 9, 11, 13, 1, 2, 3};
    body += (s ? ", " : "") + std::string("DATA index ") + std::to_string(s) + " using 1:2 with points pt " +
            std::to_string(kShapes[(s / 8) % 8]) + " ps 0.6 title " + gp_quote(points.name);
  }
  return render(png, title, style, data, body + "\n");
}

}  // namespace pneumo
