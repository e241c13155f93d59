// Training configuration JSON (`pneumo train --config`): modules/train's train_config.cpp and
// lr_schedule.cpp built without LibTorch. Properties: no crash or sanitizer report; a config that
// parses survives to_json -> from_json unchanged.
#include <cstddef>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "fuzz_check.hpp"
#include "pneumo/train/train_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  auto config = pneumo::train_config_from_json(j, "fuzz.json");
  if (!config.ok()) {
    PNEUMO_FUZZ_CHECK(!config.error().message.empty(), "empty error message");
    return 0;
  }
  auto back = pneumo::train_config_from_json(pneumo::to_json(*config), "round trip");
  PNEUMO_FUZZ_CHECK(back.ok(), "to_json output does not parse back: %s", back.ok() ? "" : back.error().message.c_str());
  PNEUMO_FUZZ_CHECK(back.value() == config.value(), "round trip changed the config: %s",
                    pneumo::to_json(*config).dump().c_str());
  return 0;
}
