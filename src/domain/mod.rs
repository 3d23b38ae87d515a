//! The product's own vocabulary: code lists (Mexican states, U.S. states), fiscal years and money.
//! Pure functions with no I/O, shared by import, demo data and the API.

pub mod calendar;
pub(crate) mod codes;
pub(crate) mod money;
pub(crate) mod names;
pub(crate) mod scalars;
