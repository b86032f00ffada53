"""DICOM in and out.

- `myoseg.dicomio.reader`: DICOM T1/T2 map series (classic MR, Enhanced MR, MR/SC with rescale) -> ISMRMRD
  images in the Gadgetron CMR-mapping style, for replay and for importing a user's own data.
- `myoseg.dicomio.export`: a replay/serve result file (maps + mask series + MYOSEG_* meta) -> DICOM MR maps,
  a DICOM SEG of the labels and a TID 1500 Structured Report of the values, for PACS.
- `myoseg.dicomio.geometry`: the one place where DICOM and MRD geometry conventions meet.

pydicom and highdicom are the `dicom` extra; they are imported inside these modules only, never by the
streaming core. Patient names and IDs never go to a log.
"""
