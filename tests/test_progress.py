"""Progress text: a count of fields/steps/samples reads as a whole number with its percentage and rate, though
stages report fractional progress (a chunk part-way through its steps)."""

from nfgen_tui.progress import count_text, rich_progress, status_text


def test_fractional_done_reads_as_whole_units_and_percent():
    assert count_text(20.8333, 300) == "20/300 (7%)"
    assert count_text(604.167, 5000) == "604/5000 (12%)"
    assert count_text(299.99999999999, 300) == "300/300 (100%)"
    assert count_text(0, 0) == "0/0"


def test_rate_shown_unless_the_stage_reports_its_own():
    assert status_text(30, 200, 2.5, {"loss": 0.123456}) == "30/200 (15%)  2.5/s  loss 0.1235"
    assert status_text(30, 200, 2.5, {"fields_per_s": 4.0}) == "30/200 (15%)  fields_per_s 4"
    assert status_text(30, 200, None, {}) == "30/200 (15%)"


def test_plain_lines_in_a_job_log_have_no_fractions(capsys):
    with rich_progress("fit") as progress:  # stderr is captured, not a terminal: plain lines as in a job log
        progress(20.8333, 300, loss=0.5)
        progress(300, 300, loss=0.25)
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0] == "fit: 20/300 (7%)  loss 0.5"
    assert lines[1].startswith("fit: 300/300 (100%)  ") and lines[1].endswith("/s  loss 0.25")
    assert "." not in lines[1].split()[1]
