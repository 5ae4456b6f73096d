//! Decodes a gzip file to a sink with the same backend as asg-trail (flate2 on zlib-rs,
//! multi-member, 256 KiB reads) and prints the decompressed size: the floor that `benches/bench.py` compares
//! the whole pipeline with.

use std::fs::File;
use std::io::{self, BufReader, Read};

use flate2::bufread::MultiGzDecoder;

fn main() -> io::Result<()> {
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| io::Error::other("usage: gunzip FILE.gz"))?;
    let file = BufReader::with_capacity(64 * 1024, File::open(&path)?);
    let mut decoder = MultiGzDecoder::new(file);
    // The same 256 KiB reads as the pipeline's decoder thread.
    let mut buf = vec![0; 256 * 1024];
    let mut bytes: u64 = 0;
    loop {
        match decoder.read(&mut buf)? {
            0 => break,
            n => bytes += n as u64,
        }
    }
    println!("{bytes}");
    Ok(())
}
