"""Generated Markdown blocks: only the text between a block's markers is replaced."""

import pytest

from common.errors import UserError
from common.markdown import check_block, markers, replace_block, write_block

TEXT = "# Title\n\nbefore\n<!-- t:begin -->\nold\nrows\n<!-- t:end -->\nafter\n"


def test_only_the_block_changes_and_a_second_write_is_the_same():
    once = replace_block(TEXT, "t", "new\n")
    assert once == "# Title\n\nbefore\n<!-- t:begin -->\nnew\n<!-- t:end -->\nafter\n"
    assert replace_block(once, "t", "new\n") == once


def test_another_blocks_markers_are_left_alone():
    text = TEXT + "<!-- u:begin -->\nkeep\n<!-- u:end -->\n"
    assert replace_block(text, "t", "x").endswith("<!-- u:begin -->\nkeep\n<!-- u:end -->\n")


@pytest.mark.parametrize(
    "text",
    [
        "no markers at all\n",
        "<!-- t:begin -->\nonly the start\n",
        "<!-- t:end -->\n<!-- t:begin -->\n",  # end before begin
        TEXT + TEXT,  # two blocks of one name
    ],
)
def test_a_missing_or_doubled_marker_is_a_user_error(text):
    with pytest.raises(UserError, match="t:begin"):
        replace_block(text, "t", "x")


def test_a_file_without_the_block_is_refused_and_left_unchanged(tmp_path):
    path = tmp_path / "README.md"
    path.write_text("# Title\n")
    with pytest.raises(UserError, match=r"README\.md needs one <!-- t:begin -->"):
        write_block(path, "t", "x")
    assert path.read_text() == "# Title\n"
    with pytest.raises(UserError, match="cannot read"):
        check_block(tmp_path / "missing.md", "t")


def test_markers_are_html_comments():
    assert markers("results") == ("<!-- results:begin -->", "<!-- results:end -->")
