import socket

from nbtrain.tblaunch import free_port, tensorboard


class FakeShell:
    def __init__(self):
        self.calls = []

    def run_line_magic(self, name, line):
        self.calls.append((name, line))


def test_outside_ipython_prints_the_command(capsys):
    cmd = tensorboard("runs/my run", port=6123)
    assert cmd == "tensorboard --logdir 'runs/my run' --port 6123"
    assert capsys.readouterr().out == ("TensorBoard: run `tensorboard --logdir 'runs/my run' --port 6123` in a "
                                       "terminal, then open http://localhost:6123/\n")


def test_in_ipython_loads_the_extension_and_uses_a_fresh_free_port():
    shell = FakeShell()
    cmd = tensorboard("runs", shell=shell)
    (ext, ext_arg), (magic, line) = shell.calls
    assert (ext, ext_arg, magic) == ("load_ext", "tensorboard", "tensorboard")
    port = int(line.rsplit(" ", 1)[1])
    assert line == f"--logdir runs --port {port}" and cmd == f"tensorboard {line}" and port != 6006
    with socket.socket() as s:                     # the port was free (nothing took it meanwhile)
        s.bind(("127.0.0.1", port))


def test_free_port_is_bindable():
    p = free_port()
    assert 1024 < p < 65536
    with socket.socket() as s:
        s.bind(("127.0.0.1", p))


def test_nbtrain_tensorboard_is_public(capsys):
    import nbtrain
    assert nbtrain.tensorboard is tensorboard


def test_missing_tensorboard_is_one_clear_error(monkeypatch):
    import sys
    import pytest
    from nbtrain.errors import NbtrainError
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    shell = FakeShell()
    with pytest.raises(NbtrainError) as e:
        tensorboard("runs", shell=shell)
    assert str(e.value) == "nbtrain.tensorboard: TensorBoard is not installed (pip install tensorboard)"
    assert shell.calls == []
