//! asg-trail's pure core (the log reader, the extractor and the item model), compiled from the
//! main crate's own source files for the fuzz targets.
#![allow(dead_code, missing_docs)]

#[path = "../../src"]
mod pure {
    pub mod cloudtrail;
    pub mod extract;
    pub mod item;
    pub mod scan;
}

pub use pure::{cloudtrail, extract, item, scan};
