import pytest

from mediasync.records.ignore import ignored_name, ignored_rel_path


@pytest.mark.parametrize("name", [
    ".DS_Store", "Thumbs.db", "notes.txt~", "a.tmp", "A.TMP", ".x.swp", "x.swp", "old.bak",
    ".IMG_1.jpg.mediasync-partial", "IMG_1.jpg.mediasync-partial", ".stfolder", ".hidden",
])
def test_hidden_temporary_and_system_names_are_ignored(name: str) -> None:
    assert ignored_name(name)


@pytest.mark.parametrize("name", ["IMG_0001.JPG", "clip.mov", "backup.zip", "tmp", "bak.jpg",
                                  "my~file.jpg", "Thumbs.db.jpg"])
def test_media_names_are_kept(name: str) -> None:
    assert not ignored_name(name)


def test_a_file_inside_a_hidden_folder_is_ignored() -> None:
    assert ignored_rel_path(".stversions/IMG_1.jpg")
    assert ignored_rel_path("2024/.trash/IMG_1.jpg")
    assert not ignored_rel_path("2024/05/IMG_1.jpg")
