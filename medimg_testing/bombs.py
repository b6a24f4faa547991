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


def costly_png(side: int = 6000, bit_depth: int = 16, colour_type: int = 6) -> bytes:
    """A valid all-black PNG (16-bit RGBA by default) of side × side: under the pixel cap, a
    few hundred KiB, but ~290 MB once decoded; the costly input of issue #29.

    Every raw byte is zero (filter 0, black samples), so the stream is one deflated MiB of
    zeros repeated after full flushes, as `deflated_dicom_bomb` does."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    raw_bytes = side * (1 + side * channels * bit_depth // 8)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    segment = compressor.compress(bytes(MIB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeats, rest = divmod(raw_bytes, MIB)
    deflated = segment * repeats + compressor.compress(bytes(rest)) + compressor.flush()
    checksum = 1
    for size in [MIB] * repeats + [rest]:
        checksum = zlib.adler32(bytes(size), checksum)
    # The zlib wrapper PNG wants, around the raw stream: header, then Adler-32 of all of it.
    body = b"\x78\xda" + deflated + struct.pack(">I", checksum)
    header = struct.pack(">IIBBBBB", side, side, bit_depth, colour_type, 0, 0, 0)
    return (
        PNG_MAGIC + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", body) + png_chunk(b"IEND", b"")
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
    dataset.SOPInstanceUID = generate_uid(entropy_srcs=["medimg bomb", str(side)])
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
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=["medimg bomb meta"])
    meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    buffer = DicomBytesIO()
    buffer.write(bytes(128) + b"DICM")
    write_file_meta_info(buffer, meta)
    return buffer.getvalue()
