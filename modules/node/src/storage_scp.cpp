// The receiving side: a DcmThreadSCP per association, run in a DcmSCPPool. (DcmStorageSCP
// derives from DcmSCP, not DcmThreadSCP, so DCMTK 3.6.7's pool cannot run it; this class does
// its C-STORE handling itself, with the node's checks before anything is written.)
#include <dcmtk/config/osconfig.h>  // must come first

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmnet/diutil.h>
#include <dcmtk/dcmnet/scppool.h>
#include <dcmtk/dcmnet/scpthrd.h>
#include <dcmtk/dcmnet/scu.h>
#include <dcmtk/oflog/oflog.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "node_internal.hpp"

namespace pneumo::node_detail {
namespace {

namespace fs = std::filesystem;

// DIMSE status codes (PS3.7 Annex C / PS3.4 B.2.3).
constexpr Uint16 kStatusSuccess = 0x0000;
constexpr Uint16 kStatusOutOfResources = 0xA700;
constexpr Uint16 kStatusDataSetMismatch = 0xA900;
constexpr Uint16 kStatusCannotUnderstand = 0xC000;

std::atomic<Shared*> g_shared{nullptr};

const char* const kStorageClasses[] = {
    UID_ComputedRadiographyImageStorage,
    UID_DigitalXRayImageStorageForPresentation,
    UID_DigitalXRayImageStorageForProcessing,
    UID_SecondaryCaptureImageStorage,
};

// Preferred first: a JPEG file offered as JPEG is kept as JPEG.
OFList<OFString> transfer_syntaxes() {
  OFList<OFString> ts;
  for (const char* t : {UID_JPEGProcess1TransferSyntax, UID_JPEGProcess2_4TransferSyntax, UID_JPEGProcess14SV1TransferSyntax,
                        UID_JPEGProcess14TransferSyntax, UID_JPEGLSLosslessTransferSyntax, UID_JPEGLSLossyTransferSyntax,
                        UID_RLELosslessTransferSyntax, UID_DeflatedExplicitVRLittleEndianTransferSyntax,
                        UID_LittleEndianExplicitTransferSyntax, UID_BigEndianExplicitTransferSyntax,
                        UID_LittleEndianImplicitTransferSyntax}) {
    ts.push_back(t);
  }
  return ts;
}

double free_mb(const fs::path& dir) {
  std::error_code ec;
  const auto s = fs::space(dir, ec);
  return ec ? 1e12 : static_cast<double>(s.available) / (1024.0 * 1024.0);
}

bool fsync_path(const fs::path& p, bool directory) {
  const int fd = ::open(p.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

class NodeScp : public DcmThreadSCP {
 protected:
  void notifyAssociationRequest(const T_ASC_Parameters& params, DcmSCPActionType& action) override {
    Shared* s = g_shared.load();
    if (!s) return;
    const NodeConfig& c = s->config;
    const std::string calling = params.DULparams.callingAPTitle;
    const std::string host = params.DULparams.callingPresentationAddress;
    auto in = [](const std::vector<std::string>& list, const std::string& v) {
      if (list.empty()) return true;
      for (const auto& x : list) {
        if (v == x || v.rfind(x + ":", 0) == 0) return true;  // presentation address is "ip:port"
      }
      return false;
    };
    if (!in(c.allowed_calling_aes, calling)) {
      spdlog::warn("node: refused association from calling AE '{}' (not in allowed_calling_aes)", calling);
      action = DCMSCP_ACTION_REFUSE_ASSOCIATION;
    } else if (!in(c.allowed_hosts, host)) {
      spdlog::warn("node: refused association from host {} (not in allowed_hosts)", host);
      action = DCMSCP_ACTION_REFUSE_ASSOCIATION;
    } else if (free_mb(c.storage) < c.min_free_disk_mb) {
      spdlog::error("node: refused association from '{}': free disk {:.0f} MB below min_free_disk_mb {:.0f}", calling,
                    free_mb(c.storage), c.min_free_disk_mb);
      action = DCMSCP_ACTION_REFUSE_ASSOCIATION;
    }
  }

  OFCondition handleIncomingCommand(T_DIMSE_Message* msg, const DcmPresentationContextInfo& info) override {
    if (msg->CommandField == DIMSE_C_STORE_RQ) {
      T_DIMSE_C_StoreRQ& req = msg->msg.CStoreRQ;
      DcmFileFormat file;
      DcmDataset* ds = file.getDataset();
      OFCondition cond = receiveSTORERequest(req, info.presentationContextID, ds);
      if (cond.bad()) {
        spdlog::warn("node: C-STORE receive failed: {}", cond.text());
        return cond;
      }
      const Uint16 status = store(req, file, info);
      return sendSTOREResponse(info.presentationContextID, req, status);
    }
    return DcmThreadSCP::handleIncomingCommand(msg, info);
  }

 private:
  // Checks and writes one instance; returns the DIMSE status for the response.
  Uint16 store(const T_DIMSE_C_StoreRQ& req, DcmFileFormat& file, const DcmPresentationContextInfo& info) {
    Shared* s = g_shared.load();
    if (!s) return kStatusOutOfResources;
    const NodeConfig& c = s->config;
    DcmDataset& ds = *file.getDataset();
    const std::string req_sop = req.AffectedSOPInstanceUID;
    const std::string req_class = req.AffectedSOPClassUID;
    OFString sop, sop_class, study;
    ds.findAndGetOFString(DCM_SOPInstanceUID, sop);
    ds.findAndGetOFString(DCM_SOPClassUID, sop_class);
    ds.findAndGetOFString(DCM_StudyInstanceUID, study);
    const std::string peer = getPeerAETitle().c_str();
    if (!is_safe_instance_uid(req_sop) || !is_safe_instance_uid(sop.c_str())) {
      spdlog::warn("node: rejected C-STORE from '{}': SOP Instance UID is not a safe identifier (0xC000)", peer);
      return kStatusCannotUnderstand;
    }
    if (req_sop != sop.c_str() || req_class != sop_class.c_str()) {
      spdlog::warn("node: rejected {} from '{}': SOP Class/Instance UID in the data set differ from the request (0xA900)",
                   req_sop, peer);
      return kStatusDataSetMismatch;
    }
    const double mb = static_cast<double>(ds.calcElementLength(ds.getOriginalXfer(), EET_ExplicitLength)) / (1024.0 * 1024.0);
    if (mb > c.max_dataset_mb) {
      spdlog::warn("node: rejected {} from '{}': data set {:.1f} MB above max_dataset_mb {:.0f} (0xA700)", req_sop, peer,
                   mb, c.max_dataset_mb);
      return kStatusOutOfResources;
    }
    Uint16 rows = 0, cols = 0;
    if (ds.findAndGetUint16(DCM_Rows, rows).bad() || ds.findAndGetUint16(DCM_Columns, cols).bad() || rows == 0 ||
        cols == 0 || !ds.tagExists(DCM_PixelData)) {
      spdlog::warn("node: rejected {} from '{}': no Rows/Columns/PixelData (0xA900)", req_sop, peer);
      return kStatusDataSetMismatch;
    }
    if (free_mb(c.storage) < c.min_free_disk_mb) {
      spdlog::error("node: rejected {}: free disk below min_free_disk_mb (0xA700)", req_sop);
      return kStatusOutOfResources;
    }
    // Atomic and durable before success: temp file in incoming/, fsync, rename, fsync the folder.
    const std::string name = req_sop + ".dcm";
    const fs::path temp = c.storage / "incoming" / (name + ".part-" + std::to_string(::getpid()) + "-" +
                                                    std::to_string(std::hash<std::thread::id>()(std::this_thread::get_id())));
    const fs::path final_path = c.storage / "images" / name;
    OFCondition cond = file.saveFile(OFFilename(temp.c_str()), EXS_Unknown, EET_ExplicitLength, EGL_recalcGL,
                                     EPD_withoutPadding, 0, 0, EWM_createNewMeta);
    std::error_code ec;
    if (cond.bad() || !fsync_path(temp, false)) {
      fs::remove(temp, ec);
      spdlog::error("node: cannot write {}: {} (0xA700)", name, cond.bad() ? cond.text() : "fsync failed");
      return kStatusOutOfResources;
    }
    fs::rename(temp, final_path, ec);
    if (ec || !fsync_path(final_path.parent_path(), true)) {
      fs::remove(temp, ec);
      spdlog::error("node: cannot move {} into images/ (0xA700)", name);
      return kStatusOutOfResources;
    }
    Job job;
    job.sop_uid = req_sop;
    job.study_uid = study.c_str();
    job.file = "images/" + name;
    job.received_at = utc_now();
    auto added = s->queue->enqueue(job);
    if (!added) {
      spdlog::error("node: cannot queue {}: {} (0xA700)", req_sop, added.error().message);
      return kStatusOutOfResources;
    }
    if (auto st = s->worklist->record_received({job.study_uid, job.sop_uid, job.received_at}); !st) {
      spdlog::error("node: worklist: {}", st.error().message);
    }
    spdlog::info("node: received {} ({}x{}, {}) from '{}'{}", req_sop, rows, cols,
                 dcmFindNameOfUID(info.acceptedTransferSyntax.c_str(), "?"), peer,
                 *added ? "" : " again (already queued; not processed twice)");
    s->wake_workers();
    return kStatusSuccess;
  }
};

}  // namespace

Status run_scp_pool(Shared& shared, const std::atomic<bool>& stop) {
  g_shared.store(&shared);
  DcmSCPPool<NodeScp> pool;
  DcmSCPConfig& cfg = pool.getConfig();
  cfg.setAETitle(shared.config.ae_title.c_str());
  cfg.setPort(static_cast<Uint16>(shared.config.port));
  cfg.setConnectionBlockingMode(DUL_NOBLOCK);
  cfg.setConnectionTimeout(1);
  cfg.setACSETimeout(static_cast<Uint32>(shared.config.network_timeout_s));
  cfg.setDIMSETimeout(static_cast<Uint32>(shared.config.network_timeout_s));
  cfg.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
  cfg.setHostLookupEnabled(OFFalse);
  const OFList<OFString> ts = transfer_syntaxes();
  OFList<OFString> echo_ts;
  echo_ts.push_back(UID_LittleEndianExplicitTransferSyntax);
  echo_ts.push_back(UID_LittleEndianImplicitTransferSyntax);
  OFCondition cond = cfg.addPresentationContext(UID_VerificationSOPClass, echo_ts);
  for (const char* sop : kStorageClasses) {
    if (cond.good()) cond = cfg.addPresentationContext(sop, ts);
  }
  if (cond.bad()) return fail(ErrorCode::kInternal, std::string("node: presentation contexts: ") + cond.text());
  pool.setMaxThreads(static_cast<Uint16>(std::max(1, shared.config.max_associations)));

  std::thread watcher([&] {
    while (!stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    pool.stopAfterCurrentAssociations();
  });
  spdlog::info("node: listening as AE '{}' on port {}", shared.config.ae_title, shared.config.port);
  cond = pool.listen();
  if (!stop.load()) {
    // listen() returned on its own: the port is unusable. Let the watcher finish.
    const_cast<std::atomic<bool>&>(stop).store(true);
  }
  watcher.join();
  g_shared.store(nullptr);
  if (cond.bad() && cond != NET_EC_StopAfterConnectionTimeout && cond != NET_EC_StopAfterAssociation) {
    return fail(ErrorCode::kIo, "node: cannot listen on port " + std::to_string(shared.config.port) + ": " + cond.text());
  }
  return ok_status();
}

Result<std::vector<std::string>> send_files(const NodeConfig& config, const DicomPeer& peer,
                                            const std::vector<fs::path>& files) {
  DcmSCU scu;
  scu.setAETitle(config.ae_title.c_str());
  scu.setPeerAETitle(peer.ae_title.c_str());
  scu.setPeerHostName(peer.host.c_str());
  scu.setPeerPort(static_cast<Uint16>(peer.port));
  scu.setACSETimeout(static_cast<Uint32>(config.network_timeout_s));
  scu.setDIMSETimeout(static_cast<Uint32>(config.network_timeout_s));
  scu.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
  scu.setConnectionTimeout(config.network_timeout_s);
  OFList<OFString> ts;
  ts.push_back(UID_LittleEndianExplicitTransferSyntax);
  ts.push_back(UID_LittleEndianImplicitTransferSyntax);
  for (const char* sop : {UID_SegmentationStorage, UID_SecondaryCaptureImageStorage, UID_Comprehensive3DSRStorage}) {
    scu.addPresentationContext(sop, ts);
  }
  OFCondition cond = scu.initNetwork();
  if (cond.good()) cond = scu.negotiateAssociation();
  if (cond.bad()) {
    return fail(ErrorCode::kIo, "association with " + peer.ae_title + "@" + peer.host + ":" + std::to_string(peer.port) +
                                    " failed: " + cond.text());
  }
  std::vector<std::string> out;
  for (const auto& f : files) {
    DcmFileFormat ff;
    if (ff.loadFile(OFFilename(f.c_str())).bad()) {
      out.push_back(f.filename().string() + ": cannot read");
      continue;
    }
    OFString sop_class;
    ff.getDataset()->findAndGetOFString(DCM_SOPClassUID, sop_class);
    const T_ASC_PresentationContextID pres = scu.findPresentationContextID(sop_class, "");
    if (pres == 0) {
      out.push_back(f.filename().string() + ": destination accepted no presentation context for " + sop_class.c_str());
      continue;
    }
    Uint16 status = 0xFFFF;
    cond = scu.sendSTORERequest(pres, OFFilename(), ff.getDataset(), status);
    if (cond.bad()) {
      out.push_back(f.filename().string() + ": " + cond.text());
      break;  // the association is gone; the rest stay unsent
    }
    char hex[8];
    std::snprintf(hex, sizeof hex, "%04X", status);
    // 0x0000 success; 0xB000/0xB007/0xB006 warnings (stored, coerced or not all elements kept).
    out.push_back(status == 0x0000 || (status & 0xF000) == 0xB000 ? "" : f.filename().string() + ": C-STORE status 0x" + hex);
  }
  while (out.size() < files.size()) out.push_back(files[out.size()].filename().string() + ": association lost");
  if (scu.isConnected()) scu.releaseAssociation();
  return out;
}

}  // namespace pneumo::node_detail
