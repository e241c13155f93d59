// The model file's configuration: the JSON text stored under "config" in every .pneumo model
// file, parsed before any tensor is touched (modules/model/src/config.cpp, no LibTorch).
// Properties: no crash or sanitizer report (UBSan catches float -> int overflows); a config that
// parses survives to_json -> from_json unchanged.
#include <cstddef>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "fuzz_check.hpp"
#include "pneumo/model/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  auto config = pneumo::model_config_from_json(j, "fuzz.json");
  if (!config.ok()) {
    PNEUMO_FUZZ_CHECK(!config.error().message.empty(), "empty error message");
    return 0;
  }
  auto back = pneumo::model_config_from_json(pneumo::to_json(*config), "round trip");
  PNEUMO_FUZZ_CHECK(back.ok(), "to_json output does not parse back: %s", back.ok() ? "" : back.error().message.c_str());
  PNEUMO_FUZZ_CHECK(back.value() == config.value(), "round trip changed the config: %s",
                    pneumo::to_json(*config).dump().c_str());
  return 0;
}
