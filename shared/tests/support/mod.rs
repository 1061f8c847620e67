pub mod worst_case;
