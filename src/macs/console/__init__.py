"""macs.console"""
