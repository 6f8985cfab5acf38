"""468-point face mesh (mediapipe FaceMesh, bundled model) for face crops.

Used by the self-blended-image training (convex hull of the face → blending mask) and for
alignment. The legacy ``solutions.face_mesh`` graph loads ``face_landmark.tflite`` and the
short-range BlazeFace from inside the mediapipe wheel: nothing is downloaded.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from forensics_app.core.faces.detector import check_rgb, warm_graph

NUM_LANDMARKS = 468


class FaceMesher:
    """Face landmarks of the most prominent face in an RGB image (typically a face crop).

    Every call is treated as an independent image (static mode), so crops from different
    faces or far-apart frames never leak state into each other. Not thread-safe: one
    instance per worker thread (each owns a mediapipe graph); close it or use it as a
    context manager.
    """

    def __init__(self, min_score: float = 0.5) -> None:
        from mediapipe.python.solutions import face_mesh  # lazy: mediapipe import is slow

        self.min_score = float(min_score)
        self._graph: Any = warm_graph(face_mesh.FaceMesh(
            static_image_mode=True,
            max_num_faces=1,
            refine_landmarks=False,  # True adds 10 iris points (478); the contract is 468
            min_detection_confidence=self.min_score,
        ))

    def landmarks(self, rgb: np.ndarray) -> np.ndarray | None:
        """(468, 2) float32 x, y pixel coordinates, or None when no face is found.

        Points are not clipped: a face cut by the image edge yields points outside it.
        """
        if self._graph is None:
            raise RuntimeError("FaceMesher is closed")
        rgb = check_rgb(rgb)
        result = self._graph.process(rgb)
        if not result.multi_face_landmarks:
            return None
        height, width = rgb.shape[:2]
        points = result.multi_face_landmarks[0].landmark
        coords = np.array([[p.x, p.y] for p in points[:NUM_LANDMARKS]], dtype=np.float32)
        return coords * np.array([width, height], dtype=np.float32)

    def close(self) -> None:
        """Release the mediapipe graph; safe to call twice."""
        if self._graph is not None:
            self._graph.close()
            self._graph = None

    def __enter__(self) -> FaceMesher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
