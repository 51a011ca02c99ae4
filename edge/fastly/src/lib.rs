//! placeholder: the fastly adapter is being written
