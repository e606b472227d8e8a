//! The HTTP handlers, one module per resource.

pub mod audit;
pub mod codes;
pub mod health;
pub mod items;
pub mod keys;
pub mod learning;
pub mod policies;
pub mod reviews;
