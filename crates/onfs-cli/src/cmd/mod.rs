pub mod encode;
pub mod inspect;
pub mod plan;
pub mod send;
