// NodeConfig parsing: "AET@HOST:PORT" destinations and node.json files.
#include <charconv>
#include <fstream>
#include <sstream>

#include "pneumo/node/node.hpp"

namespace pneumo {

Result<DicomPeer> parse_destination(std::string_view text) {
  const std::string t(text);
  const auto at = t.find('@');
  const auto colon = t.rfind(':');
  if (at == std::string::npos || colon == std::string::npos || colon < at) {
    return fail(ErrorCode::kInvalidArgument, "destination '" + t + "': expected AET@HOST:PORT");
  }
  DicomPeer p;
  p.ae_title = t.substr(0, at);
  p.host = t.substr(at + 1, colon - at - 1);
  const std::string port = t.substr(colon + 1);
  if (p.ae_title.empty() || p.ae_title.size() > 16) {
    return fail(ErrorCode::kInvalidArgument, "destination '" + t + "': AE title must be 1..16 characters");
  }
  for (char c : p.ae_title) {
    if (c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      return fail(ErrorCode::kInvalidArgument, "destination '" + t + "': AE title holds a backslash or control character");
    }
  }
  if (p.host.empty()) return fail(ErrorCode::kInvalidArgument, "destination '" + t + "': empty host");
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p.port);
  if (ec != std::errc() || ptr != port.data() + port.size() || p.port < 1 || p.port > 65535) {
    return fail(ErrorCode::kInvalidArgument, "destination '" + t + "': port must be 1..65535");
  }
  return p;
}

bool is_safe_instance_uid(std::string_view uid) {
  if (uid.empty() || uid.size() > 64 || uid.front() == '.') return false;
  if (uid.find("..") != std::string_view::npos) return false;
  for (char c : uid) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Status apply_node_config_json(const nlohmann::json& j, const std::string& source, NodeConfig& c) {
  if (!j.is_object()) return fail(ErrorCode::kBadInput, source + ": expected a JSON object");
  for (const auto& [key, v] : j.items()) {
    const std::string where = source + ": key \"" + key + "\": ";
    try {
      if (key == "ae_title") c.ae_title = v.get<std::string>();
      else if (key == "port") c.port = v.get<int>();
      else if (key == "storage") c.storage = v.get<std::string>();
      else if (key == "worklist") c.worklist = v.get<std::string>();
      else if (key == "destination") {
        if (v.is_null()) {
          c.destination.reset();
        } else {
          auto d = parse_destination(v.get<std::string>());
          if (!d) return fail(ErrorCode::kBadInput, where + d.error().message);
          c.destination = *d;
        }
      } else if (key == "models") {
        c.models.clear();
        for (const auto& m : v) c.models.emplace_back(m.get<std::string>());
      } else if (key == "workers") c.workers = v.get<int>();
      else if (key == "batch") c.batch = v.get<int>();
      else if (key == "threads") c.threads = v.get<int>();
      else if (key == "allowed_calling_aes") c.allowed_calling_aes = v.get<std::vector<std::string>>();
      else if (key == "allowed_hosts") c.allowed_hosts = v.get<std::vector<std::string>>();
      else if (key == "max_associations") c.max_associations = v.get<int>();
      else if (key == "min_free_disk_mb") c.min_free_disk_mb = v.get<double>();
      else if (key == "max_dataset_mb") c.max_dataset_mb = v.get<double>();
      else if (key == "retry_initial_s") c.retry_initial_s = v.get<double>();
      else if (key == "retry_max_s") c.retry_max_s = v.get<double>();
      else if (key == "max_send_attempts") c.max_send_attempts = v.get<int>();
      else if (key == "network_timeout_s") c.network_timeout_s = v.get<int>();
      else return fail(ErrorCode::kBadInput, where + "unknown key");
    } catch (const nlohmann::json::exception& e) {
      return fail(ErrorCode::kBadInput, where + "wrong type (" + e.what() + ")");
    }
  }
  return ok_status();
}

Status load_node_config(const std::filesystem::path& path, NodeConfig& config) {
  std::ifstream in(path);
  if (!in) return fail(ErrorCode::kNotFound, path.string() + ": cannot open the node configuration");
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return fail(ErrorCode::kBadInput, path.string() + ": not valid JSON");
  return apply_node_config_json(j, path.string(), config);
}

}  // namespace pneumo
