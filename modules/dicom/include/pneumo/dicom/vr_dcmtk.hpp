// For modules that already build DCMTK data sets (dicom, outputs): check every text value of a
// data set against pneumo's VR rules (pneumo/dicom/vr.hpp) before it is written.
//
//   if (auto st = pneumo::check_dataset_values(*file.getDataset(), "x_seg.dcm"); !st) return st;
//
// Only DCMTK's class name appears here (forward-declared); include DCMTK's headers yourself.
// Thread-safety: reads the data set; safe on distinct data sets.
#pragma once

#include <string_view>

#include "pneumo/core/result.hpp"

class DcmItem;

namespace pneumo {

// Walks every element (nested sequence items too) and checks each text VR's value with
// check_vr_value. The error (kBadInput) names `where`, the attribute and its tag:
// "x_sc.dcm: PixelSpacing (0028,0030): DS value '0.14300000000000002' is 19 characters, at most 16".
Status check_dataset_values(DcmItem& item, std::string_view where);

}  // namespace pneumo
