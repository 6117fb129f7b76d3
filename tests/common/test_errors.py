"""The one error line every entry point prints."""

from common.errors import USER_ERROR_STATUS, UserError, error_line, run_cli


def test_an_error_message_of_several_lines_is_printed_as_one(capsys):
    def body():
        raise UserError("cannot read x.jsonl:\n  line 3\tis\nmalformed")

    assert run_cli("prog", body) == USER_ERROR_STATUS == 2
    assert capsys.readouterr().err == "prog: error: cannot read x.jsonl: line 3 is malformed\n"
    assert error_line("p", "a\n\nb") == "p: error: a b"


def test_anything_but_a_user_error_keeps_its_traceback():
    def body():
        raise ValueError("a bug")

    try:
        run_cli("prog", body)
    except ValueError as err:
        assert str(err) == "a bug"
    else:
        raise AssertionError("a bug was reported as a user error")
