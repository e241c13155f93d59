#include "pneumo/dicom/dicom.hpp"
