"""A record's AI finding as a DICOM Comprehensive SR (TID 1500 Measurement Report), via highdicom.

One TID 1501 measurement group for the whole image: the predicted class as its "Finding",
one "Probability of <class>" measurement per class, the model as the observer
device and as the algorithm. The SR references the image it was made from by that image's
own UIDs: for a stored record these are the pseudonymous UIDs of the de-identified file
(derived from the salted originals, see ml/deidentify.py), since the originals are never
kept; on a PACS push, the original image fetched in the same request.
"""

import highdicom as hd
from pydicom import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from api.interop import ModelDevice, derived_uid
from api.models import Record

# A private coding scheme (PS3.16 8.2: "99" prefix) for medimg's classes: no standard
# terminology has "no tumour on this slice".
CLASS_SCHEME = "99MEDIMG"
SR_SERIES_NUMBER = 9901
SR_DESCRIPTION = "medimg AI classification (research use, not diagnosis)"


def structured_report(record: Record, source: Dataset, model: ModelDevice) -> Dataset:
    """The SR of `record`'s finding on `source`; `to_part10` makes the file."""
    algorithm = hd.sr.AlgorithmIdentification(name=model.name, version=model.version)
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=derived_uid("tracking", source, model),
            identifier=f"AI classification of record {record.id}",
        ),
        algorithm_id=algorithm,
        finding_sites=[hd.sr.FindingSite(anatomic_location=codes.SCT.Brain)],
        # TID 1501 "Finding": what the model found on the whole image.
        finding_type=class_code(record.label),
        measurements=[
            hd.sr.Measurement(
                name=hd.sr.CodedConcept(
                    f"P-{name}", CLASS_SCHEME, f"Probability of {display(name)}"
                ),
                value=float(probability),
                unit=codes.UCUM.NoUnits,
                algorithm_id=algorithm,
            )
            for name, probability in sorted(record.probabilities.items())
        ],
        source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(source)],
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(
            observer_device_context=hd.sr.ObserverContext(
                observer_type=codes.DCM.Device,
                observer_identifying_attributes=model_observer(model),
            )
        ),
        procedure_reported=codes.SCT.ImagingProcedure,
        imaging_measurements=[group],
        referenced_images=[source],
    )
    return hd.sr.ComprehensiveSR(
        evidence=[source],
        content=report,
        series_instance_uid=derived_uid("sr-series", source, model),
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=derived_uid("sr-instance", source, model),
        instance_number=1,
        manufacturer=model.manufacturer,
        is_complete=True,
        series_description=SR_DESCRIPTION,
    )


def model_observer(model: ModelDevice) -> hd.sr.DeviceObserverIdentifyingAttributes:
    return hd.sr.DeviceObserverIdentifyingAttributes(
        # One UID per model version, whatever the image: it names the device.
        uid=str(generate_uid(entropy_srcs=["device", model.name, model.version])),
        name=model.name,
        manufacturer_name=model.manufacturer,
        model_name=f"{model.name} {model.version}",
    )


def class_code(class_name: str) -> hd.sr.CodedConcept:
    return hd.sr.CodedConcept(class_name, CLASS_SCHEME, display(class_name))


def display(class_name: str) -> str:
    return class_name.replace("_", " ")
