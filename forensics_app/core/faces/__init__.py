"""Faces: detection (BlazeFace), landmarks (FaceMesh), tracking into identities, crops.

mediapipe is imported lazily by `FaceDetector` and `FaceMesher`, so the tracker and the crop
helpers can be used (and this package imported) without paying for it.
"""

from forensics_app.core.faces.crop import crop_face, square_crop_box
from forensics_app.core.faces.detector import KEYPOINT_NAMES, Detection, FaceDetector
from forensics_app.core.faces.landmarks import NUM_LANDMARKS, FaceMesher
from forensics_app.core.faces.shots import ShotCutDetector
from forensics_app.core.faces.tracker import IoUTracker, iou_matrix, track_detections

__all__ = [
    "KEYPOINT_NAMES",
    "NUM_LANDMARKS",
    "Detection",
    "FaceDetector",
    "FaceMesher",
    "IoUTracker",
    "ShotCutDetector",
    "crop_face",
    "iou_matrix",
    "square_crop_box",
    "track_detections",
]
