"""`hookstack top` through the command line, without a stack (with one: tests/integration)."""

from __future__ import annotations

from tests.unit.stack.test_cli_errors import assert_one_line_error, hookstack


def test_top_without_a_stack_is_one_line_saying_how_to_start_one(isolated_home):
    result = hookstack("top", "--once")
    assert_one_line_error(result, "hookstack up")
    assert result.returncode == 1


def test_top_refuses_a_watch_length_it_cannot_read(isolated_home):
    result = hookstack("top", "--for", "10x")
    assert_one_line_error(result, "--for", "10x")
    assert result.returncode == 2
