//! A byte stream cut at arbitrary points: the splitter yields the same messages as when fed
//! whole, and never buffers more than it was given.
#![no_main]

use bgp_core::wire::FrameSplitter;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (Vec<u8>, Vec<u8>)| {
    let (stream, cuts) = input;
    let mut whole = FrameSplitter::new(65535);
    whole.push(&stream);
    let mut expected = Vec::new();
    let expected_err = loop {
        match whole.next_frame() {
            Ok(Some(f)) => expected.push(f),
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    let mut split = FrameSplitter::new(65535);
    let mut got = Vec::new();
    let mut got_err = None;
    let mut pos = 0;
    let mut cuts = cuts.into_iter();
    'feed: while pos < stream.len() {
        let step = usize::from(cuts.next().unwrap_or(255)).max(1);
        let end = (pos + step).min(stream.len());
        split.push(&stream[pos..end]);
        pos = end;
        loop {
            match split.next_frame() {
                Ok(Some(f)) => got.push(f),
                Ok(None) => break,
                Err(e) => {
                    got_err = Some(e);
                    break 'feed;
                }
            }
        }
        assert!(split.pending() <= stream.len());
    }
    assert_eq!(got, expected);
    assert_eq!(got_err, expected_err);
});
