"""macs.select.selectors"""
