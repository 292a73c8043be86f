pub mod check;
pub mod encode;
pub mod inspect;
pub mod plan;
pub mod run;
pub mod send;
pub mod status;
pub mod verify;
