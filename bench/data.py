"""Real inputs for the benchmarks: 512×512 MRI JPEGs from the datasets, and DICOM files made
from the same pixels (the datasets hold no DICOM), so every figure is on real slices."""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from ml.decode import decode_image

FOLDERS = (
    Path("brain-tumor-mri-sartaj", "Testing"),
    Path("brain-tumor-mri-nickparvar", "Training"),
)
SIDE = 512


@dataclass(frozen=True)
class BenchUpload:
    filename: str
    data: bytes
    media_type: str


def real_512_jpegs(data_dir: Path, count: int) -> list[bytes]:
    """The first `count` 512×512 JPEGs, in a fixed order, so every run sends the same."""
    found: list[bytes] = []
    for folder in FOLDERS:
        for path in sorted((data_dir / folder).rglob("*.jpg")):
            data = path.read_bytes()
            if decode_image(data).pixels.shape == (SIDE, SIDE):
                found.append(data)
            if len(found) == count:
                return found
    if not found:
        raise SystemExit(f"no 512×512 JPEG under {data_dir}: pass --data DIR (the datasets)")
    return found


def dicom_from_jpeg(jpeg: bytes, index: int) -> bytes:
    """An uncompressed MR DICOM file holding the JPEG's pixels, as a scanner would send."""
    pixels = decode_image(jpeg).pixels.astype(np.uint16) * 16  # 12-bit range, as MR stores
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
    dataset.SOPClassUID = MRImageStorage
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    dataset.StudyInstanceUID = generate_uid()
    dataset.SeriesInstanceUID = generate_uid()
    dataset.Modality = "MR"
    dataset.PatientName = f"BENCH^{index}"
    dataset.PatientID = f"bench-{index}"
    dataset.Rows, dataset.Columns = pixels.shape
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 16, 12, 11
    dataset.PixelRepresentation = 0
    dataset.PixelData = pixels.tobytes()
    buffer = BytesIO()
    pydicom.dcmwrite(buffer, dataset, enforce_file_format=True)
    return buffer.getvalue()


def real_uploads(data_dir: Path, count: int, dicom_every: int = 4) -> list[BenchUpload]:
    """`count` distinct uploads: real JPEGs, every `dicom_every`-th sent as a DICOM file."""
    uploads = []
    for index, jpeg in enumerate(real_512_jpegs(data_dir, count)):
        if index % dicom_every == dicom_every - 1:
            data = dicom_from_jpeg(jpeg, index)
            uploads.append(BenchUpload(f"slice-{index}.dcm", data, "application/dicom"))
        else:
            uploads.append(BenchUpload(f"slice-{index}.jpg", jpeg, "image/jpeg"))
    return uploads
