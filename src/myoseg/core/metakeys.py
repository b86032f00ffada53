"""Names of MRD meta attributes we read (Gadgetron / FIRE conventions) and write (our output contract)."""

# --- read: Gadgetron CMR mapping chain ---
GT_DATA_ROLE = "GADGETRON_DataRole"  # T1 / T1SD / T2 / T2SD
GT_SCALE_RATIO = "GADGETRON_ScaleRatio"  # stored pixel = value * ratio
GT_WINDOW_CENTER = "GADGETRON_WindowCenter"
GT_WINDOW_WIDTH = "GADGETRON_WindowWidth"
GT_COLOR_MAP = "GADGETRON_ColorMap"
GT_IMAGE_COMMENT = "GADGETRON_ImageComment"
GT_SERIES_DESCRIPTION = "GADGETRON_SeriesDescription"
GT_IMAGE_PROCESSING_HISTORY = "GADGETRON_ImageProcessingHistory"

# --- FIRE / OpenRecon conventions ---
DATA_ROLE = "DataRole"
IMAGE_COMMENTS = "ImageComments"
IMAGE_PROCESSING_HISTORY = "ImageProcessingHistory"
SEQUENCE_DESCRIPTION_ADDITIONAL = "SequenceDescriptionAdditional"
SERIES_DESCRIPTION = "SeriesDescription"
KEEP_IMAGE_GEOMETRY = "Keep_image_geometry"
WINDOW_CENTER = "WindowCenter"
WINDOW_WIDTH = "WindowWidth"
ROI_PREFIX = "ROI_"

# --- written: the myoseg output contract (README "Output contract") ---
ROLE = "MYOSEG_Role"  # mask | overlay (derived images only)
SOURCE_SERIES = "MYOSEG_SourceSeries"  # image_series_index of the source map
MAP_TYPE = "MYOSEG_MapType"  # T1 | T2
VIEW = "MYOSEG_View"
MEAN_MS = "MYOSEG_Mean_ms"
MEDIAN_MS = "MYOSEG_Median_ms"
SD_MS = "MYOSEG_SD_ms"
IQR_MS = "MYOSEG_IQR_ms"
PIXELS = "MYOSEG_Pixels"
SEPTAL_MS = "MYOSEG_Septal_ms"
AHA_MS = "MYOSEG_AHA_ms"
QUALITY = "MYOSEG_Quality"  # 0..1
STATUS = "MYOSEG_Status"  # ok | review | error
ERROR = "MYOSEG_Error"
MODEL = "MYOSEG_Model"  # name and sha256 prefix
TIME_MS = "MYOSEG_Time_ms"

ROLE_MASK = "mask"
ROLE_OVERLAY = "overlay"
STATUS_OK = "ok"
STATUS_REVIEW = "review"
STATUS_ERROR = "error"

# --- written by the results gadgets (segment / quantify / emit), beyond the contract's minimum ---
REVIEW = "MYOSEG_Review"  # list: why the status is `review`
WARNINGS = "MYOSEG_Warnings"  # list: intake/refinement findings that did not need review
QUALITY_PARTS = "MYOSEG_QualityParts"  # e.g. "tta=0.95 confidence=0.88 refine=0.99"
BACKEND = "MYOSEG_Backend"
NAN_PIXELS = "MYOSEG_NaNPixels"  # myocardial pixels excluded because the map is NaN/Inf there
SEPTAL_PIXELS = "MYOSEG_SeptalPixels"
AHA_SEGMENTS = "MYOSEG_AHA_Segments"  # list: segment numbers of MYOSEG_AHA_ms (1-6, 7-12 or 13-16)
RV_INSERTION = "MYOSEG_RVInsertion"  # [x_anterior, y_anterior, x_inferior, y_inferior] (pixels)
ORIGINAL_IMAGE_COMMENTS = "MYOSEG_OriginalImageComments"
