"""forensics-app: an offline workstation for explainable deepfake analysis of video evidence."""

__version__ = "0.1.0"
TOOL_NAME = "forensics-app"
