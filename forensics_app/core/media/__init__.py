"""Evidence media: frame-exact video access over PyAV, and hashing."""

from forensics_app.core.media.evidence import beside_evidence, check_evidence_file
from forensics_app.core.media.hashing import FileHashes, hash_file
from forensics_app.core.media.video import (
    VideoInfo,
    VideoSource,
    sample_indices,
    video_stream_count,
)

__all__ = ["FileHashes", "VideoInfo", "VideoSource", "beside_evidence", "check_evidence_file",
           "hash_file", "sample_indices", "video_stream_count"]
