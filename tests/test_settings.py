"""One typed definition of each setting: the CLI, the GUI and the report's re-run command all
read it, so a default or a choice cannot drift between layers."""

from __future__ import annotations

import shlex
from dataclasses import asdict

import pytest

from forensics_app.cli import build_parser
from forensics_app.core.analysis.settings import AnalysisSettings
from forensics_app.core.errors import ForensicsError
from forensics_app.core.options import from_namespace, options_of, spec
from forensics_app.core.report.options import ReportOptions


def test_cli_defaults_and_choices_come_from_the_definitions():
    args = build_parser().parse_args(["analyze", "v.mp4", "--out", "o"])
    assert from_namespace(AnalysisSettings, args) == AnalysisSettings()
    assert from_namespace(ReportOptions, args) == ReportOptions()
    analyze = build_parser()._subparsers._group_actions[0].choices["analyze"]
    by_dest = {a.dest: a for a in analyze._actions}
    for s in [*options_of(AnalysisSettings), *options_of(ReportOptions)]:
        if s.flag:
            assert by_dest[s.name].option_strings == [s.flag]
            assert by_dest[s.name].choices == s.choices
            assert by_dest[s.name].default == s.default


def test_rerun_command_parses_back_to_the_same_settings():
    settings = AnalysisSettings(frames=17, segment=(4, 90), explain="rollout", detector="short",
                                device="cpu", batch_size=8)
    argv = shlex.split(" ".join(["analyze", "v.mp4", "--out", "o", *settings.command_line()]))
    assert from_namespace(AnalysisSettings, build_parser().parse_args(argv)) == settings


def test_validation_names_the_flag_and_the_bounds():
    with pytest.raises(ForensicsError, match="--frames must be between 1 and 100"):
        AnalysisSettings(frames=101).validate()
    with pytest.raises(ForensicsError, match="--detector must be one of full, short"):
        AnalysisSettings(detector="tiny").validate()
    assert spec(AnalysisSettings, "frames").bounds == (1, 100)
    assert set(asdict(AnalysisSettings())) >= {s.name for s in options_of(AnalysisSettings)}


def test_paper_choices_match_the_paper_sizes():
    from forensics_app.core.report.document import PAPERS

    assert spec(ReportOptions, "paper").choices == tuple(PAPERS)
