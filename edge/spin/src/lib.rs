//! placeholder: the spin adapter is being written
