"""Small files that claim or inflate to enormous images, built in memory at test time."""

import io
import struct
import zlib

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import DeflatedExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MIB = 1024 * 1024


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload)
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def hundred_megapixel_png() -> bytes:
    """A 10,000 × 10,000 greyscale PNG of a few KiB: the first 4 MiB of zero rows, deflated."""
    side = 10_000
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    rows = zlib.compress(bytes(4 * MIB), 9)
    return (
        PNG_MAGIC + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", rows) + png_chunk(b"IEND", b"")
    )


def deflated_dicom_bomb(inflated_mib: int = 1024) -> bytes:
    """A Deflated Explicit VR DICOM whose dataset inflates to `inflated_mib` MiB of pixels.

    Built from one deflated MiB of zeros repeated: after a full flush the compressor starts
    afresh, so every further MiB deflates to the same bytes and the file stays ~1 MiB.
    """
    side = int((inflated_mib * MIB // 2) ** 0.5)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    head = compressor.compress(_image_attributes(side)) + compressor.flush(zlib.Z_FULL_FLUSH)
    segment = compressor.compress(bytes(MIB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeat = compressor.compress(bytes(MIB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert segment == repeat, "zlib did not restart after a full flush"
    body = head + segment * inflated_mib + compressor.flush()
    return _file_meta_bytes() + body


def _image_attributes(side: int) -> bytes:
    """Explicit VR little-endian attributes, then a Pixel Data header for side² 16-bit pixels."""
    dataset = Dataset()
    dataset.SOPClassUID = SecondaryCaptureImageStorage
    dataset.SOPInstanceUID = generate_uid()
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.Rows = side
    dataset.Columns = side
    dataset.BitsAllocated = 16
    dataset.BitsStored = 16
    dataset.HighBit = 15
    dataset.PixelRepresentation = 0
    buffer = io.BytesIO()
    dataset.save_as(buffer, implicit_vr=False, little_endian=True)
    pixel_data_header = struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, side * side * 2)
    return buffer.getvalue() + pixel_data_header


def _file_meta_bytes() -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    buffer = DicomBytesIO()
    buffer.write(bytes(128) + b"DICM")
    write_file_meta_info(buffer, meta)
    return buffer.getvalue()
