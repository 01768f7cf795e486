"""model.save to a folder it cannot write to is refused in one sentence naming the path
asked for (the OS's error named a temporary file), with the OS error's kind kept."""

import errno

import pytest
import torch

from grukit import _io
from grukit.layers import GRU, Dense
from grukit.models import Sequential


@pytest.mark.parametrize("code, kind", [(errno.EACCES, PermissionError),
                                        (errno.EROFS, OSError)])
def test_a_folder_that_cannot_be_written_is_named(tmp_path, monkeypatch, code, kind):
    torch.manual_seed(0)
    model = Sequential([GRU(2, input_shape=(3, 1)), Dense(1)])
    model.compile("adam", "mse")

    def refused(*args, **kwargs):  # what a read-only folder does (root writes anywhere)
        raise OSError(code, "no writing here", str(tmp_path / "tmpab12.tmp"))

    monkeypatch.setattr(_io.tempfile, "mkstemp", refused)
    path = tmp_path / "m.safetensors"
    with pytest.raises(kind, match=r"cannot save to .*m\.safetensors.*no writing here.*a "
                                   r"folder you can write to") as err:
        model.save(path)
    assert err.value.errno == code and not path.exists()
