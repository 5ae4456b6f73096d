//! S3: whether the bucket is the account's own (`ListBuckets` lists the caller's buckets only,
//! narrowed by `Prefix` to the bucket's name; `HeadBucket` tells a bucket of another account
//! from none at all), and its region (`GetBucketLocation`), which names the service S3 calls
//! KMS through.

use aws_sdk_s3::error::ProvideErrorMetadata;

use super::call_failed;
use crate::doctor::ProbeError;
use crate::doctor::notify::Ownership;

/// Whether `bucket` is the caller's own, another account's, or none.
pub(super) async fn ownership(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<Ownership, ProbeError> {
    let pages: Result<Vec<_>, _> = s3
        .list_buckets()
        .prefix(bucket)
        .into_paginator()
        .send()
        .collect()
        .await;
    let pages = pages.map_err(|e| call_failed("ListBuckets", e))?;
    let own = pages
        .iter()
        .flat_map(aws_sdk_s3::operation::list_buckets::ListBucketsOutput::buckets)
        .any(|b| b.name() == Some(bucket));
    if own {
        return Ok(Ownership::Own);
    }
    match s3.head_bucket().bucket(bucket).send().await {
        Err(e)
            if e.code() == Some("NotFound")
                || e.as_service_error().is_some_and(
                    aws_sdk_s3::operation::head_bucket::HeadBucketError::is_not_found,
                ) =>
        {
            Ok(Ownership::Missing)
        }
        _ => Ok(Ownership::Other),
    }
}

/// The bucket's region.
pub(super) async fn region(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<String, ProbeError> {
    let out = s3
        .get_bucket_location()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| call_failed("GetBucketLocation", e))?;
    // No constraint is us-east-1; "EU" is S3's old name of eu-west-1.
    Ok(
        match out
            .location_constraint()
            .map(aws_sdk_s3::types::BucketLocationConstraint::as_str)
        {
            None | Some("") => "us-east-1".to_owned(),
            Some("EU") => "eu-west-1".to_owned(),
            Some(region) => region.to_owned(),
        },
    )
}
