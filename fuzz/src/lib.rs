//! asg-trail's pure core (the log reader, the extractor, the EventBridge events and the item
//! model, with the settings and the pipeline they use), compiled from the main crate's own
//! source files for the fuzz targets.
#![allow(dead_code, missing_docs)]

#[path = "../../src"]
mod pure {
    pub mod cloudtrail;
    pub mod config;
    pub mod events;
    pub mod extract;
    pub mod item;
    pub mod pipeline;
    pub mod scan;
}

pub use pure::{cloudtrail, config, events, extract, item, pipeline, scan};
