//! The streamed file layout: `MAGIC`, then length-delimited `Record`s (a
//! header first, events, at most one end record, last).

use std::fmt;
use std::io::{self, Read, Write};

use prost::Message;

use crate::messages::{Record, RecordKind, Trace, TraceEnd, TraceEvent, TraceHeader};

/// The first 8 bytes of every trace file: "ZRTRACE" and the layout version 1.
pub const MAGIC: [u8; 8] = *b"ZRTRACE\x01";

/// The default bound on one record's encoded length. A frame is at most
/// 65,544 bytes (spec #frame-size), so an event record is well below this.
pub const DEFAULT_MAX_RECORD: usize = 1 << 20;

/// Why a trace could not be read or written.
#[derive(Debug)]
#[non_exhaustive]
pub enum TraceError {
    Io(io::Error),
    /// The file does not start with [`MAGIC`].
    BadMagic,
    /// A record's length prefix is above the reader's (or writer's) limit.
    RecordTooLarge {
        len: u64,
        max: usize,
    },
    /// The file ends inside a length prefix or a record.
    Truncated,
    /// A record is not a valid `Record` message.
    Decode(prost::DecodeError),
    /// The records are valid but out of order (no header first, a second
    /// header, a record after the end, an empty record), or a length prefix
    /// is not a varint.
    Layout(&'static str),
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "{e}"),
            Self::BadMagic => write!(f, "not a zroute trace (no ZRTRACE\\x01 magic)"),
            Self::RecordTooLarge { len, max } => {
                write!(f, "record of {len} bytes is above the limit of {max} bytes")
            }
            Self::Truncated => write!(f, "the trace ends in the middle of a record"),
            Self::Decode(e) => write!(f, "invalid record: {e}"),
            Self::Layout(what) => write!(f, "invalid trace layout: {what}"),
        }
    }
}

impl std::error::Error for TraceError {}

impl From<io::Error> for TraceError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// Writes a trace record by record. Nothing is buffered here: give it a
/// `BufWriter` and flush it when you want the file current.
#[derive(Debug)]
pub struct TraceWriter<W: Write> {
    out: W,
    written: u64,
    max_record: usize,
    buf: Vec<u8>,
}

impl<W: Write> TraceWriter<W> {
    /// Writes the magic and the header record.
    pub fn new(out: W, header: &TraceHeader) -> Result<Self, TraceError> {
        let mut writer = Self {
            out,
            written: 0,
            max_record: DEFAULT_MAX_RECORD,
            buf: Vec::new(),
        };
        writer.out.write_all(&MAGIC)?;
        writer.written = MAGIC.len() as u64;
        writer.write(RecordKind::Header(header.clone()))?;
        Ok(writer)
    }

    /// Appends an event. An event whose record is above the record limit is
    /// refused (no reader would take it) and nothing is written.
    pub fn write_event(&mut self, event: &TraceEvent) -> Result<(), TraceError> {
        self.write(RecordKind::Event(event.clone()))
    }

    /// Appends the end record and returns the output.
    pub fn finish(mut self, end: &TraceEnd) -> Result<W, TraceError> {
        self.write(RecordKind::End(end.clone()))?;
        self.out.flush()?;
        Ok(self.out)
    }

    /// Bytes written so far, the magic included.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// The bytes an event would add to the file: its record and length prefix.
    pub fn event_len(event: &TraceEvent) -> u64 {
        let record = Record {
            kind: Some(RecordKind::Event(event.clone())),
        };
        record.encoded_len() as u64 + prost::length_delimiter_len(record.encoded_len()) as u64
    }

    /// The bytes an end record adds to the file (at most).
    pub const MAX_END_LEN: u64 = 32;

    fn write(&mut self, kind: RecordKind) -> Result<(), TraceError> {
        let record = Record { kind: Some(kind) };
        let len = record.encoded_len();
        if len > self.max_record {
            return Err(TraceError::RecordTooLarge {
                len: len as u64,
                max: self.max_record,
            });
        }
        self.buf.clear();
        record
            .encode_length_delimited(&mut self.buf)
            .expect("a Vec grows as needed");
        self.out.write_all(&self.buf)?;
        self.written += self.buf.len() as u64;
        Ok(())
    }
}

/// Reads a trace record by record, never allocating more than the record
/// limit for one record.
#[derive(Debug)]
pub struct TraceReader<R: Read> {
    input: R,
    max_record: usize,
    header: TraceHeader,
    end: Option<TraceEnd>,
}

impl<R: Read> TraceReader<R> {
    /// Checks the magic and reads the header, with the default record limit.
    pub fn new(input: R) -> Result<Self, TraceError> {
        Self::with_max_record(input, DEFAULT_MAX_RECORD)
    }

    pub fn with_max_record(mut input: R, max_record: usize) -> Result<Self, TraceError> {
        let mut magic = [0u8; 8];
        input.read_exact(&mut magic).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => TraceError::BadMagic,
            _ => TraceError::Io(e),
        })?;
        if magic != MAGIC {
            return Err(TraceError::BadMagic);
        }
        let header = match read_record(&mut input, max_record)? {
            Some(RecordKind::Header(h)) => h,
            Some(_) => return Err(TraceError::Layout("the first record is not a header")),
            None => return Err(TraceError::Layout("no header record")),
        };
        Ok(Self {
            input,
            max_record,
            header,
            end: None,
        })
    }

    pub fn header(&self) -> &TraceHeader {
        &self.header
    }

    /// The end record, once [`next_event`](Self::next_event) returned `None`
    /// (absent if the recording was cut short).
    pub fn end(&self) -> Option<&TraceEnd> {
        self.end.as_ref()
    }

    /// The next event; `None` after the end record or at the end of the file.
    pub fn next_event(&mut self) -> Result<Option<TraceEvent>, TraceError> {
        if self.end.is_some() {
            return match read_record(&mut self.input, self.max_record)? {
                None => Ok(None),
                Some(_) => Err(TraceError::Layout("a record after the end record")),
            };
        }
        match read_record(&mut self.input, self.max_record)? {
            None => Ok(None),
            Some(RecordKind::Event(e)) => Ok(Some(e)),
            Some(RecordKind::End(end)) => {
                self.end = Some(end);
                self.next_event()
            }
            Some(RecordKind::Header(_)) => Err(TraceError::Layout("a second header record")),
        }
    }
}

/// One record, or `None` at a clean end of file (between records).
fn read_record(input: &mut impl Read, max: usize) -> Result<Option<RecordKind>, TraceError> {
    let Some(len) = read_varint(input)? else {
        return Ok(None);
    };
    if len > max as u64 {
        return Err(TraceError::RecordTooLarge { len, max });
    }
    let mut buf = vec![0u8; len as usize];
    input.read_exact(&mut buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => TraceError::Truncated,
        _ => TraceError::Io(e),
    })?;
    let record = Record::decode(&buf[..]).map_err(TraceError::Decode)?;
    record
        .kind
        .map(Some)
        .ok_or(TraceError::Layout("a record with no member set"))
}

/// A protobuf varint; `None` if the input ends before its first byte.
fn read_varint(input: &mut impl Read) -> Result<Option<u64>, TraceError> {
    let mut value: u64 = 0;
    for i in 0..10 {
        let mut byte = [0u8; 1];
        match input.read(&mut byte) {
            Ok(0) if i == 0 => return Ok(None),
            Ok(0) => return Err(TraceError::Truncated),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(TraceError::Io(e)),
        }
        value |= u64::from(byte[0] & 0x7f) << (7 * i);
        if byte[0] & 0x80 == 0 {
            return Ok(Some(value));
        }
    }
    Err(TraceError::Layout("a length prefix longer than 10 bytes"))
}

/// Reads a whole trace (with the default record limit).
pub fn read_trace(input: impl Read) -> Result<Trace, TraceError> {
    let mut reader = TraceReader::new(input)?;
    let mut events = Vec::new();
    while let Some(event) = reader.next_event()? {
        events.push(event);
    }
    Ok(Trace {
        header: Some(reader.header.clone()),
        events,
        end: reader.end,
    })
}

/// Writes a whole trace in the streamed layout.
pub fn write_trace(out: impl Write, trace: &Trace) -> Result<(), TraceError> {
    let header = trace
        .header
        .as_ref()
        .ok_or(TraceError::Layout("a trace needs a header"))?;
    let mut writer = TraceWriter::new(out, header)?;
    for event in &trace.events {
        writer.write_event(event)?;
    }
    match &trace.end {
        Some(end) => {
            writer.finish(end)?;
        }
        None => writer.get_mut().flush()?,
    }
    Ok(())
}
