// pneumo node: a DICOM node that receives chest X-rays (C-ECHO / C-STORE SCP), runs the model
// on them and sends the results (SEG, Secondary Capture, TID 1500 SR) to a destination AE (the
// PACS), keeping a triage worklist. See docs/node.md.
//
//   pneumo::NodeConfig cfg;                        // or load_node_config("node.json", cfg)
//   cfg.ae_title = "PNEUMO"; cfg.port = 11112; cfg.storage = "/var/lib/pneumo";
//   cfg.worklist = "/var/lib/pneumo/worklist.db";
//   cfg.destination = *parse_destination("ORTHANC@127.0.0.1:4242");
//   std::atomic<bool> stop{false};
//   Status st = pneumo::run_node(cfg, stop);        // blocks until stop becomes true
//
// Storage layout under cfg.storage: incoming/ (partial receipts, cleaned at start), images/
// (<SOPInstanceUID>.dcm, fsynced and renamed before the C-STORE response says success),
// results/<SOPInstanceUID>/{seg,sc,sr}.dcm, queue.db (the persistent job queue, SQLite).
//
// Thread-safety: run_node runs the SCP pool, `workers` model threads and one sender thread; the
// functions below are pure.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "pneumo/core/result.hpp"

namespace pneumo {

struct DicomPeer {
  std::string ae_title;
  std::string host;
  int port = 0;
  bool operator==(const DicomPeer&) const = default;
};

struct NodeConfig {
  std::string ae_title = "PNEUMO";
  int port = 11112;
  std::filesystem::path storage;
  std::filesystem::path worklist;       // SQLite file; default <storage>/worklist.db
  std::optional<DicomPeer> destination;  // where results go; none = keep them on disk only
  std::vector<std::filesystem::path> models;  // default: the shipped model (as predict)
  int workers = 1;                // model threads, each with its own Predictor
  int batch = 4;                  // images per forward pass when several are waiting
  int threads = 0;                // torch threads per worker; 0 = cores / workers
  std::vector<std::string> allowed_calling_aes;  // empty = any
  std::vector<std::string> allowed_hosts;        // empty = any (IP addresses as the peer shows)
  int max_associations = 8;
  double min_free_disk_mb = 512;  // refuse new associations below this
  double max_dataset_mb = 64;     // C-STORE data sets above this get 0xA700
  double retry_initial_s = 1;     // back-off when the destination fails: 1, 2, 4, ... s
  double retry_max_s = 60;
  int max_send_attempts = 0;      // 0 = keep retrying (backing off up to retry_max_s)
  int network_timeout_s = 30;
};

// "AET@HOST:PORT" -> DicomPeer; kInvalidArgument naming what is wrong.
Result<DicomPeer> parse_destination(std::string_view text);

// Reads a JSON object whose keys are NodeConfig's names (ae_title, port, storage, worklist,
// destination as "AET@HOST:PORT", models, workers, batch, threads, allowed_calling_aes,
// allowed_hosts, max_associations, min_free_disk_mb, max_dataset_mb, retry_initial_s,
// retry_max_s, max_send_attempts, network_timeout_s) into `config`, over what it holds.
// Unknown keys and wrong types are errors naming the file and key.
Status load_node_config(const std::filesystem::path& path, NodeConfig& config);
Status apply_node_config_json(const nlohmann::json& j, const std::string& source, NodeConfig& config);

// A SOP Instance UID the node accepts as a file name: 1..64 characters of [0-9A-Za-z._-], not
// starting with '.', without "..". (SIIM's "ID_..." identifiers pass; "/", "\", ".." never do.)
bool is_safe_instance_uid(std::string_view uid);

// Runs until `stop` is true (checked at least once a second). Errors: bad configuration,
// storage or port unusable, model files unusable.
Status run_node(const NodeConfig& config, const std::atomic<bool>& stop);

}  // namespace pneumo
